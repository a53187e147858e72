"""Build the training task source and the held-out evaluation set from a `DataConfig`."""

from __future__ import annotations

from orchestration.arithmetic import ArithmeticTasks, split_of
from orchestration.curriculum import Curriculum
from orchestration.multistep import MultiStepTasks
from orchestration.scarce_labels import ScarceLabels
from orchestration.tasks import ListTasks, TaskItem, TaskSource, distinct, load_code, load_humaneval, load_math

EVAL_SEED = 1_000_003  # the held-out set is the same whatever the run's seed
GENERATORS = {"arithmetic": ArithmeticTasks, "multistep": MultiStepTasks}  # built-in, endless, split by a hash


def build_sources(data, seed: int) -> tuple[TaskSource | Curriculum, list[TaskItem]]:
    """(endless training source, fixed list of distinct held-out items)."""
    if data.source in GENERATORS:
        generator = GENERATORS[data.source]
        words = {"worked_example": data.worked_example}
        if data.phrasings:  # arithmetic only (DataConfig checks)
            words["phrasings"] = data.phrasings
        held_out = generator(data.levels, "test", EVAL_SEED, held_out_fraction=data.eval_fraction, **words)
        if data.curriculum:  # arithmetic only (DataConfig checks)
            train = Curriculum(
                data.levels,
                seed,
                data.eval_fraction,
                band=tuple(data.curriculum_band),
                window=data.curriculum_window,
                **words,
            )
        else:
            train = generator(data.levels, "train", seed, held_out_fraction=data.eval_fraction, **words)
        if data.labelled_problems is not None:  # arithmetic only (DataConfig checks)
            train = ScarceLabels(train, data.labelled_problems, data.labelled_share, withhold=data.unlabelled)
        return train, distinct((held_out.item(i) for i in range(100 * data.eval_size)), data.eval_size)
    if data.source == "humaneval":
        items = load_humaneval(data.path)
    elif data.source == "math":
        items = load_math(data.path, format=data.format, columns=data.columns, allow_unlabelled=data.unlabelled)
    else:
        items = load_code(data.path, columns=data.columns)
    if data.eval_path:
        loader = load_math if data.source == "math" else load_code
        kwargs = {"format": data.format} if data.source == "math" else {}
        held_out = loader(data.eval_path, columns=data.columns, **kwargs)
        train = items
    else:  # hold out a stable, hash-chosen share of the problems
        held_out = [item for item in items if split_of(item.id, data.eval_fraction) == "test"]
        train = [item for item in items if split_of(item.id, data.eval_fraction) == "train"]
    held_out = [item for item in held_out if item.verifier != "none"]  # only what a rule can judge is evaluated
    if not held_out:
        raise ValueError(
            f"data: no held-out items (eval_fraction={data.eval_fraction} of {len(items)} items); "
            "raise data.eval_fraction or give data.eval_path"
        )
    return ListTasks(train, seed=seed), held_out[: data.eval_size]
