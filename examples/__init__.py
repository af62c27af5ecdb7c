"""Example experiments. Each experiment module registers one experiment with
``neurosim.experiments``; run them with ``neurosim run NAME`` or ``python -m
neurosim.examples.<module>``. An experiment that outgrew one file keeps its pieces beside it
under its own prefix (``what_when_task``, ``what_when_config``, ``what_when_learner``,
``what_when_measures``, ``what_when_plots`` for ``what_when``): experiment-only code, not
reusable circuits. ``ddp_train`` is a torchrun script (multi-process training), not an
experiment."""
