"""Oracles that only ever propose configurations within the budget.

Keras Tuner's oracles sample blindly; a model found too large in `build` raises
`FailedTrialError`, which still spends a trial, and three in a row stop the
search (keras-tuner issue #989). These oracles check every proposal with the
space's analytic counter (microseconds, no model built) before it becomes a
trial, and draw again when it is over budget (rejection sampling: Keras Tuner's
distribution restricted to the feasible set). The first proposal of a search is
the space's default (the base config's network if it fits). Random proposals go through
`_random_values` in all three oracles; Hyperband's later rounds reuse completed
(feasible) trials; the Bayesian oracle picks its guided proposals among feasible
draws.
"""
import os
import random
import time
import warnings

import keras_tuner
import numpy as np

from keras_resnet_cifar.tuning import compat
from keras_resnet_cifar.tuning.hypermodel import space_hyperparameters
from keras_resnet_cifar.tuning.space import SearchSpace
from keras_resnet_cifar.errors import UserTypeError

MAX_DRAWS = 100_000  # draws per proposal (~5 s) before the feasible share counts as too small


class _Feasible:
    """Mixin: re-sample proposals over budget; counts how many were drawn again."""

    def _setup_feasible(self, space, max_draws, max_minutes=None):
        if not isinstance(space, SearchSpace):
            raise UserTypeError(f"space: received {type(space).__name__}; accepted: a SearchSpace")
        self.space = space
        self.max_draws = max_draws
        self.rejected = 0
        self.trial_end_hook = None  # called with (trial, tuner_id) once a trial has ended
        self.max_minutes = max_minutes  # no trial starts after this many minutes of search; None: no limit
        self.time_stopped = False  # whether the time budget has refused a trial
        self.reserve_seconds = 0.0  # of max_minutes, kept for what follows the search (its finalists)
        self.default_proposed = False  # whether the first proposal, the space's default, has been made
        self._earlier_seconds, self._started = 0.0, time.monotonic()  # search time before this process, and now

    def search_seconds(self):
        """Seconds this search has run, over every process that ran it (kept in the oracle's state)."""
        return self._earlier_seconds + time.monotonic() - self._started

    @keras_tuner.synchronized
    def create_trial(self, tuner_id):
        # The time budget (less the finalists' reserve): once spent, every tuner asking for a trial is told to
        # stop (Keras Tuner's STOPPED, as for max_trials), including a trial waiting to be retried; the trials
        # running finish.
        if (self.max_minutes is not None and tuner_id not in self.ongoing_trials
                and self.search_seconds() >= 60 * self.max_minutes - self.reserve_seconds):
            self.time_stopped = True
            self.tuner_ids.discard(tuner_id)
            hyperparameters = self.hyperparameters.copy()
            hyperparameters.values = {}
            return keras_tuner.engine.trial.Trial(hyperparameters, trial_id=str(len(self.trials)), status="STOPPED")
        return super().create_trial(tuner_id)

    @keras_tuner.synchronized
    def end_trial(self, trial):
        tuner_id = next((t for t, ongoing in self.ongoing_trials.items() if ongoing.trial_id == trial.trial_id), None)
        super().end_trial(trial)
        if self.trial_end_hook is not None:
            self.trial_end_hook(self.trials[trial.trial_id], tuner_id)

    def _random_values(self):
        # A search's first proposal is the space's default (always within the budget: the base config's
        # network if it fits, with --recipe fast airbench94, else the smallest): the leaderboard shows where the
        # hand-designed network ranks under the same trials, and the search starts from a known-good point
        # (Keras Tuner draws it blindly). The flag is in the oracle's state, so a resume does not propose it again.
        if not self.default_proposed:
            self.default_proposed = True
            return dict(self.space.default)
        # Keras Tuner's own `_random_values` draws the same way (prob_to_value of a uniform
        # number per active hyperparameter) but rebuilds a HyperParameters object and seeds a
        # new generator per value: ~1 ms a draw. One generator per draw makes rejection
        # sampling ~10x cheaper. None, as there, means the unseen feasible set is exhausted.
        collisions = 0
        for _ in range(self.max_draws):
            rng = random.Random(self._seed_state)
            self._seed_state += 1
            values = {}
            for hp in self.hyperparameters.space:
                if all(condition.is_active(values) for condition in hp.conditions):
                    values[hp.name] = hp.prob_to_value(rng.random())
            if not self.space.is_feasible(values):
                self.rejected += 1
            elif not self._duplicate(values):
                return values
            else:
                collisions += 1
                if collisions > self._max_collisions:
                    return None
        print(f"tuner: {self.max_draws:,} draws in a row were over budget or already tried; the feasible share of "
              "the space is too small to sample: narrow --widths/--blocks or raise --max-params. Stopping.")
        return None

    def _save_trial(self, trial):
        compat.save_state(os.path.join(self._get_trial_dir(trial.trial_id), "trial.json"), trial)  # atomically

    def reload(self):
        # Keras Tuner re-queues every trial that oracle.json lists as ongoing. A kill between
        # writing a finished trial's trial.json and oracle.json would re-run a finished trial.
        super().reload()
        self._retry_queue = [i for i in self._retry_queue if self.trials[i].status not in ("COMPLETED", "FAILED")]

    def get_state(self):
        return {**super().get_state(), "feasible_rejected": self.rejected, "search_seconds": self.search_seconds(),
                "default_proposed": self.default_proposed}

    def set_state(self, state):
        super().set_state(state)
        self.rejected = state.get("feasible_rejected", 0)
        self.default_proposed = state.get("default_proposed", bool(self._tried_so_far))  # older searches: if any
        self._earlier_seconds, self._started = state.get("search_seconds", 0.0), time.monotonic()


def _oracle_kwargs(space, kwargs):
    kwargs.setdefault("objective", keras_tuner.Objective("val_accuracy", "max"))
    kwargs.setdefault("hyperparameters", space_hyperparameters(space))
    return kwargs


class FeasibleRandomSearchOracle(_Feasible, keras_tuner.oracles.RandomSearchOracle, compat.AtomicState):
    """Random search over the feasible set.

    Args:
        space: SearchSpace.
        max_draws: draws per proposal before giving up. Default MAX_DRAWS.
        max_minutes: no trial starts after this many minutes of search (over resumes). Default None: no limit.
        **kwargs: RandomSearchOracle arguments (objective default "val_accuracy", max_trials, seed).

    Example:
        >>> oracle = FeasibleRandomSearchOracle(SearchSpace.create(), max_trials=5, seed=1)
        >>> oracle.space.is_feasible(oracle.populate_space("0")["values"])
        True
    """

    def __init__(self, space, max_draws=MAX_DRAWS, max_minutes=None, **kwargs):
        super().__init__(**_oracle_kwargs(space, kwargs))
        self._setup_feasible(space, max_draws, max_minutes)


class FeasibleHyperbandOracle(_Feasible, keras_tuner.oracles.HyperbandOracle, compat.AtomicState):
    """Hyperband (multi-fidelity over epochs) whose new configurations are all feasible.

    Args:
        space: SearchSpace.
        max_draws: draws per proposal before giving up. Default MAX_DRAWS.
        max_minutes: no trial starts after this many minutes of search (over resumes). Default None: no limit.
        **kwargs: HyperbandOracle arguments (max_epochs, factor, hyperband_iterations, seed).
    """

    def __init__(self, space, max_draws=MAX_DRAWS, max_minutes=None, **kwargs):
        super().__init__(**_oracle_kwargs(space, kwargs))
        self._setup_feasible(space, max_draws, max_minutes)


class FeasibleBayesianOracle(_Feasible, keras_tuner.oracles.BayesianOptimizationOracle, compat.AtomicState):
    """Gaussian-process Bayesian optimization over the feasible set only.

    Keras Tuner minimizes the acquisition (lower confidence bound) with L-BFGS-B from 50
    random starts in the unconstrained unit cube, so under a budget its optimum is often
    over it. Here the acquisition is minimized over `num_candidates` random feasible,
    untried configurations (scored in one batched GP prediction): every proposal is feasible
    by construction and still guided by the model.

    Args:
        space: SearchSpace.
        max_draws: draws per random proposal before giving up. Default MAX_DRAWS.
        num_candidates: feasible configurations scored per guided proposal. Default 500.
        max_minutes: no trial starts after this many minutes of search (over resumes). Default None: no limit.
        **kwargs: BayesianOptimizationOracle arguments (num_initial_points: random trials
            before the model guides, default 3 per open dimension, where Keras Tuner counts
            fixed ones too; alpha, beta, seed).
    """

    def __init__(self, space, max_draws=MAX_DRAWS, num_candidates=500, max_minutes=None, **kwargs):
        super().__init__(**_oracle_kwargs(space, kwargs))
        self._setup_feasible(space, max_draws, max_minutes)
        self.num_candidates = num_candidates

    def populate_space(self, trial_id):
        completed = [t for t in self.trials.values() if t.status == "COMPLETED"]
        initial = self.num_initial_points or max(3 * len(self._nonfixed_space()), 3)
        if len(completed) < initial or not self._nonfixed_space():
            return self._random_populate_space()
        from sklearn.exceptions import ConvergenceWarning  # scikit-learn: needed by the Bayesian oracle only

        x, y = self._vectorize_trials()
        with warnings.catch_warnings():  # flat scores early in a search make the kernel fit warn
            warnings.simplefilter("ignore", category=ConvergenceWarning)
            self.gpr.fit(np.nan_to_num(x, posinf=0, neginf=0), np.nan_to_num(y, posinf=0, neginf=0))
        candidates = []
        for _ in range(self.num_candidates):
            values = self._random_values()
            if values is None:
                break
            candidates.append(values)
        if not candidates:
            return {"status": "STOPPED", "values": None}
        mu, sigma = self.gpr.predict(np.array([self._vector(v) for v in candidates]), return_std=True)
        best = int(np.argmin(np.ravel(mu) - self.beta * np.ravel(sigma)))  # scores are negated when maximizing
        return {"status": "RUNNING", "values": candidates[best]}

    def _vector(self, values):
        # The embedding of `_vectorize_trials`: inactive hyperparameters take their default.
        return [hp.value_to_prob(values[hp.name] if hp.name in values else hp.default)
                for hp in self._nonfixed_space()]


ORACLES = {"hyperband": FeasibleHyperbandOracle, "bayesian": FeasibleBayesianOracle,
           "random": FeasibleRandomSearchOracle}
