"""Labels: a durable store of annotation events, agreement between annotators, snapshots.

>>> from mlaas_kernel.labels import LabelStore
>>> store = LabelStore()                       # workspace/labels.db
>>> store.label("mnist", 17, "3", annotator="ana", seconds=1.2)
>>> store.agreement("mnist"), store.snapshot("mnist").ref
"""

from ._agreement import cohen_kappa, consensus, disagreements, fleiss_kappa
from ._files import FORMATS, Domain, ImportReport, LabelImportError, dataset_domain
from ._store import SOURCES, Agreement, LabelStore, Snapshot, load_snapshot

__all__ = [
    "Agreement",
    "Domain",
    "FORMATS",
    "ImportReport",
    "LabelImportError",
    "LabelStore",
    "SOURCES",
    "Snapshot",
    "cohen_kappa",
    "consensus",
    "dataset_domain",
    "disagreements",
    "fleiss_kappa",
    "load_snapshot",
]
