"""The run layer: a run folder from source to trained model, for every kind of run.

:mod:`vaelab.runs.base` defines a kind (:class:`~vaelab.runs.base.RunKind`); one module per
kind implements it (:mod:`~vaelab.runs.array`, :mod:`~vaelab.runs.table`,
:mod:`~vaelab.runs.series`); :mod:`vaelab.runs.kinds` is the registry; :mod:`vaelab.runs.run`
opens a run folder (:class:`~vaelab.runs.run.Run`); :mod:`vaelab.runs.train` trains one
(:func:`~vaelab.runs.train.train_run`).
"""
