"""spec.tuning of a ModelTraining: a hyperparameter search, one Job per trial.

The search space, the trial budget and the objective are here; the state of the search
(every trial asked, its parameters and its result) lives in `status.tuning`, so that an
operator restarted mid-search carries on from exactly where it stopped.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from .common import ApiModel, cel, preserve_unknown
from .dataset import MAX_SEED

#: The most trials one training may run; status keeps every one of them.
MAX_TRIALS = 500
MAX_PARALLELISM = 50
MAX_PARAMETERS = 32
MAX_CHOICES = 32
CHOICE_LENGTH = 64

#: Parameters a search may tune: XGBoost booster parameters the trainer passes through
#: (tests/unit/training/test_tuning_api.py trains with each) and its loop's rounds.
#: Not `objective`, `device`, `tree_method` or `seed`: those are the operator's to set.
TUNABLE = (
    "max_depth",
    "max_leaves",
    "max_bin",
    "learning_rate",
    "eta",
    "gamma",
    "min_split_loss",
    "min_child_weight",
    "max_delta_step",
    "subsample",
    "colsample_bytree",
    "colsample_bylevel",
    "colsample_bynode",
    "lambda",
    "reg_lambda",
    "alpha",
    "reg_alpha",
    "scale_pos_weight",
    "grow_policy",
    "num_parallel_tree",
    "max_cat_to_onehot",
    "max_cat_threshold",
    "num_boost_round",
    "early_stopping_rounds",
)

ParameterType = Literal["float", "int", "categorical"]
Direction = Literal["maximize", "minimize"]
Sampler = Literal["tpe", "random"]
TrialState = Literal["Running", "Complete", "Failed"]

_PARAMETER = "spec.tuning.parameters"
_PARAMETER_RULES = (
    (
        "self.type == 'categorical' || (has(self.low) && has(self.high) && self.low < self.high)",
        f"{_PARAMETER}: a float or int parameter needs low < high",
    ),
    (
        "!has(self.log) || !self.log || (self.type != 'categorical' && has(self.low) && "
        "self.low > 0.0)",
        f"{_PARAMETER}: log needs a float or int parameter with low > 0",
    ),
    (
        "self.type != 'categorical' || (has(self.choices) && size(self.choices) > 0)",
        f"{_PARAMETER}: a categorical parameter needs choices",
    ),
    (
        "self.type == 'categorical' || !has(self.choices)",
        f"{_PARAMETER}: choices belong to categorical parameters only",
    ),
)
_NAMES_RULE = (
    "self.all(name, name in [" + ", ".join(f"'{n}'" for n in TUNABLE) + "])",
    f"{_PARAMETER}: only these can be tuned: {', '.join(TUNABLE)}",
)
#: The gate metrics that fit each kind of task.
REGRESSION_METRICS = ("rmse", "mae", "r2")
CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
OBJECTIVE_RULE = (
    "!has(self.tuning) || (self.task == 'regression') == "
    "(self.tuning.objective.metric in ['rmse', 'mae', 'r2'])",
    "spec.tuning.objective.metric: rmse, mae and r2 for regression, "
    "the other metrics for classification",
)
#: Metrics where lower is better: the default direction of an objective on them.
MINIMIZED = frozenset({"log_loss", "rmse", "mae"})


def choice_value(choice: str) -> Any:
    """A categorical choice as XGBoost gets it: "128" → 128, "0.5" → 0.5, "true" → True,
    anything else stays a string (the CRD holds choices as strings, one type per list)."""
    try:
        value = json.loads(choice)
    except ValueError:
        return choice
    return value if isinstance(value, (bool, int, float)) else choice


class Parameter(ApiModel):
    """One tuned parameter: a range of numbers, or a set of choices."""

    model_config = ApiModel.model_config | {"json_schema_extra": cel(*_PARAMETER_RULES)}

    type: ParameterType = Field(
        description="float and int draw from [low, high] (int rounds low up and high "
        "down); categorical draws one of choices."
    )
    low: float | None = None
    high: float | None = None
    log: bool = Field(False, description="Draw on a log scale (low must be > 0).")
    choices: list[Annotated[str, Field(min_length=1, max_length=CHOICE_LENGTH)]] | None = Field(
        None,
        max_length=MAX_CHOICES,
        description="Values of a categorical parameter; one that reads as a number or a "
        'boolean ("128", "true") is passed to XGBoost as one.',
    )

    @model_validator(mode="after")
    def _consistent(self) -> Parameter:
        numeric = self.type != "categorical"
        if numeric and (self.low is None or self.high is None or not self.low < self.high):
            raise ValueError(_PARAMETER_RULES[0][1])
        if self.log and (not numeric or self.low is None or self.low <= 0):
            raise ValueError(_PARAMETER_RULES[1][1])
        if not numeric and not self.choices:
            raise ValueError(_PARAMETER_RULES[2][1])
        if numeric and self.choices is not None:
            raise ValueError(_PARAMETER_RULES[3][1])
        return self

    def int_bounds(self) -> tuple[int, int]:
        """An int parameter's whole-number bounds, rounded inward."""
        assert self.low is not None and self.high is not None
        low, high = math.ceil(self.low), math.floor(self.high)
        return low, max(low, high)


class Objective(ApiModel):
    """The test metric a search optimizes."""

    metric: Literal[
        "accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "rmse", "mae", "r2"
    ] = Field(description="A metric from metrics.json (one a quality gate can name).")
    direction: Direction | None = Field(
        None, description="minimize for log_loss, rmse and mae, maximize the others if unset."
    )

    def maximize(self) -> bool:
        if self.direction is not None:
            return self.direction == "maximize"
        return self.metric not in MINIMIZED


class Tuning(ApiModel):
    """Search spec.hyperparameters' space: each trial trains in its own Job, and the best
    trial's model becomes the training's (and faces the quality gate)."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel(
            (
                "self.parallelism <= self.trials",
                "spec.tuning.parallelism must not exceed spec.tuning.trials",
            )
        )
    }

    parameters: dict[str, Parameter] = Field(
        min_length=1,
        max_length=MAX_PARAMETERS,
        json_schema_extra=cel(_NAMES_RULE),
        description="XGBoost parameter name → its range. A tuned value overrides the same "
        "name in spec.hyperparameters, which holds the fixed ones.",
    )
    trials: int = Field(ge=1, le=MAX_TRIALS, description="How many trials in all.")
    parallelism: int = Field(
        1, ge=1, le=MAX_PARALLELISM, description="At most this many trial Jobs at once."
    )
    objective: Objective
    sampler: Sampler = Field("tpe", description="optuna's TPE sampler, or random search.")
    seed: int | None = Field(
        None, ge=0, le=MAX_SEED, description="The sampler's seed; spec.dataset.seed if unset."
    )

    @model_validator(mode="after")
    def _valid(self) -> Tuning:
        unknown = sorted(set(self.parameters) - set(TUNABLE))
        if unknown:
            raise ValueError(f"{_NAMES_RULE[1]} (not {', '.join(unknown)})")
        if self.parallelism > self.trials:
            raise ValueError("spec.tuning.parallelism must not exceed spec.tuning.trials")
        return self


def check_objective(task: str, tuning: Tuning | None) -> None:
    """OBJECTIVE_RULE, for specs built in Python."""
    if tuning is not None and (task == "regression") != (
        tuning.objective.metric in REGRESSION_METRICS
    ):
        raise ValueError(OBJECTIVE_RULE[1])


class TrialStatus(ApiModel):
    """One trial of the search, as recorded before its Job was created."""

    number: int = Field(ge=0)
    state: TrialState
    params: dict[str, Any] = Field(json_schema_extra=preserve_unknown())
    job_name: str
    value: float | None = Field(None, description="The objective's value once Complete.")
    message: str | None = Field(None, description="Why it failed.")


class BestTrial(ApiModel):
    """The trial with the best objective value so far."""

    number: int
    value: float
    params: dict[str, Any] = Field(json_schema_extra=preserve_unknown())


class TuningStatus(ApiModel):
    """Where the search stands: every trial asked so far, and the best one."""

    progress: str = Field("", description='e.g. "trials 12/40, best roc_auc=0.8610".')
    trials: list[TrialStatus] = Field(default_factory=list, max_length=MAX_TRIALS)
    best: BestTrial | None = None
