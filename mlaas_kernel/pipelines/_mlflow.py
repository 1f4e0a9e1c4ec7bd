"""The pipeline run as an MLflow run (experiment ``pipelines``) that its steps' runs nest under.

Steps' runs carry ``mlflow.parentRunId`` and ``mlaas.pipeline.*`` tags (``mlaas_kernel.track``
adds them from the ``MLAAS_PIPELINE_*`` variables); they are found back by the tag. Tracking never
fails a pipeline: the first error is printed once and tracking stops for this run.
"""

from __future__ import annotations

import json
import sys

EXPERIMENT = "pipelines"
_STATUS = {"succeeded": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}


class PipelineTracking:
    def __init__(self, *, enabled: bool = True, workspace_dir=None):
        self.enabled = enabled
        self.workspace_dir = workspace_dir
        self.client = None
        self.run_id: str | None = None

    def _warn(self, what: str, exc: Exception) -> None:
        if self.enabled:
            print(f"mlaas pipeline: warning: MLflow tracking is off for this run ({what}: {type(exc).__name__}: {exc})", file=sys.stderr)
        self.enabled = False

    def start(self, *, pipeline: str, run: str, params: dict, description: str, existing: str | None) -> str | None:
        """The pipeline's MLflow run: ``existing`` reopened (a resume) or a new one; its id, or None."""
        if not self.enabled:
            return None
        try:
            from mlflow.entities import Param, RunTag

            from ..track import setup
            from ..track._mlrun import versions

            self.client, exp_id = setup(EXPERIMENT, workspace_dir=self.workspace_dir)
            current = RunTag("mlaas.pipeline.parameters", json.dumps(params, default=str)[:5000])
            if existing:  # a resume: MLflow params cannot change, so the tag carries the parameters it resumed with
                self.client.update_run(existing, status="RUNNING")
                self.client.log_batch(existing, tags=[current, RunTag("mlaas.pipeline.status", "running")])
                self.run_id = existing
                return existing
            tags = {"mlaas.kind": "pipeline", "mlaas.pipeline.name": pipeline, "mlaas.pipeline.run": f"{pipeline}/{run}",
                    "mlflow.note.content": description, **{f"mlaas.version.{k}": v for k, v in versions().items()}}
            self.run_id = self.client.create_run(exp_id, run_name=f"{pipeline}/{run}", tags={k: str(v) for k, v in tags.items()}).info.run_id
            self.client.log_batch(self.run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()],
                                  tags=[current, RunTag("mlaas.pipeline.status", "running")])
        except Exception as exc:  # noqa: BLE001 - tracking must not fail the pipeline
            self._warn("starting the pipeline's run", exc)
            return None
        return self.run_id

    def start_in_background(self, **kwargs) -> None:
        """:meth:`start` in a thread: importing MLflow and opening its store take seconds that cached
        steps and the workers' own imports need not wait for."""
        import threading

        self._thread = threading.Thread(target=self.start, kwargs=kwargs, daemon=True, name="pipeline-mlflow")
        self._thread.start()

    def wait(self) -> str | None:
        """The pipeline's MLflow run id once :meth:`start_in_background` is done (None without tracking)."""
        thread = getattr(self, "_thread", None)
        if thread is not None:
            thread.join()
        return self.run_id

    def step_runs(self, run_ref: str, step: str) -> list[str]:
        """The MLflow runs the step's notebook created (by their ``mlaas.pipeline.*`` tags), oldest first."""
        if not (self.enabled and self.run_id):
            return []
        try:
            exp_ids = [e.experiment_id for e in self.client.search_experiments()]
            found = self.client.search_runs(exp_ids, filter_string=f"tags.`mlaas.pipeline.run` = '{run_ref}' and "
                                                                   f"tags.`mlaas.pipeline.step` = '{step}'",
                                            order_by=["attributes.start_time ASC"], max_results=1000)
            return [r.info.run_id for r in found]
        except Exception as exc:  # noqa: BLE001
            self._warn("finding the step's runs", exc)
            return []

    def finish(self, status: str, run_json) -> None:
        """The run's final status, and run.json as its artifact."""
        self.wait()
        if not (self.enabled and self.run_id):
            return
        try:
            self.client.set_tag(self.run_id, "mlaas.pipeline.status", status)
            self.client.log_artifact(self.run_id, str(run_json))
            self.client.set_terminated(self.run_id, _STATUS.get(status, "FAILED"))
        except Exception as exc:  # noqa: BLE001
            self._warn("ending the pipeline's run", exc)
