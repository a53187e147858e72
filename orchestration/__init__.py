"""The online loop and its I/O: task sources, config, outcome buffer, checkpoints, metrics, the trainer.

python orchestration/train_loop.py --help
"""
