"""The search itself is optuna's: an in-memory study rebuilt from status on every ask.

Nothing of optuna outlives one call. The study is rebuilt from the trials recorded in
`status.tuning.trials` (finished ones with their results, running ones as running, so
that TPE's constant liar keeps new trials away from them), and the sampler is seeded
with the spec's seed plus the number of trials so far: the same status always asks the
same next trials, so an operator that dies between asking and recording asks the same
ones again rather than different ones.
"""

from __future__ import annotations

import warnings
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState as OptunaState

from ..api.tuning import Parameter, TrialStatus, Tuning, choice_value

_STATES = {
    "Running": OptunaState.RUNNING,
    "Complete": OptunaState.COMPLETE,
    "Failed": OptunaState.FAIL,
}


def distributions(tuning: Tuning) -> dict[str, BaseDistribution]:
    """The search space in optuna's terms, in a fixed (sorted) order."""
    return {name: _distribution(tuning.parameters[name]) for name in sorted(tuning.parameters)}


def _distribution(parameter: Parameter) -> BaseDistribution:
    if parameter.type == "categorical":
        return CategoricalDistribution([choice_value(c) for c in parameter.choices or []])
    if parameter.type == "int":
        low, high = parameter.int_bounds()
        return IntDistribution(low, high, log=parameter.log)
    assert parameter.low is not None and parameter.high is not None
    return FloatDistribution(parameter.low, parameter.high, log=parameter.log)


def _sampler(tuning: Tuning, seed: int) -> optuna.samplers.BaseSampler:
    if tuning.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    with warnings.catch_warnings():
        # constant_liar was experimental before optuna 5; it is what parallel asks need.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


def rebuild(tuning: Tuning, trials: list[TrialStatus], seed: int) -> optuna.Study:
    """An in-memory study holding `trials` (in number order) with optuna's numbering."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = distributions(tuning)
    study = optuna.create_study(
        sampler=_sampler(tuning, seed),
        direction="maximize" if tuning.objective.maximize() else "minimize",
    )
    for trial in sorted(trials, key=lambda t: t.number):
        state = _STATES[trial.state]
        complete = state == OptunaState.COMPLETE and trial.value is not None
        if state == OptunaState.COMPLETE and not complete:
            state = OptunaState.FAIL
        value = trial.value if complete else None
        try:
            frozen = optuna.trial.create_trial(
                state=state, value=value, params=trial.params, distributions=space
            )
        except (ValueError, TypeError):
            # Parameters outside the space (the spec is immutable, so only a hand-edited
            # status has them): the trial still takes its number, without them.
            frozen = optuna.trial.create_trial(state=state, value=value)
        study.add_trial(frozen)
    return study


def ask(tuning: Tuning, trials: list[TrialStatus], seed: int, count: int) -> list[dict[str, Any]]:
    """The parameters of the next `count` trials, numbered len(trials), len(trials)+1, ..."""
    study = rebuild(tuning, trials, seed)
    space = distributions(tuning)
    asked = []
    for _ in range(count):
        trial = study.ask(space)
        asked.append({name: trial.params[name] for name in space})
    return asked
