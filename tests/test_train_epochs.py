"""epochs: None is the adaptive default, a whole number of at least 1 is that many, anything else is an error naming it
(``epochs or default`` once trained the default for 0)."""

from __future__ import annotations

import numpy as np
import pytest

from mlaas_kernel.train._inputs import TrainingInputError
from mlaas_kernel.train._loop import plan_schedule


@pytest.mark.parametrize("epochs, message", [(0, "epochs must be at least 1, or None for the default (got 0)"),
                                             (-1, "epochs must be at least 1, or None for the default (got -1)"),
                                             (1.5, "epochs must be a whole number of at least 1, or None for the default (got 1.5)"),
                                             ("2", "whole number of at least 1, or None for the default (got '2')"),
                                             (True, "whole number of at least 1, or None for the default (got True)")])
def test_epochs_below_one_or_not_whole_is_an_error_naming_it(epochs, message):
    with pytest.raises(TrainingInputError) as err:
        plan_schedule(8000, epochs=epochs)
    assert message in str(err.value)


def test_epochs_none_is_the_default_and_a_whole_number_is_kept():
    assert plan_schedule(8000).epochs == 5
    assert plan_schedule(8000, epochs=1).epochs == 1 and plan_schedule(8000, epochs=np.int64(3)).epochs == 3
