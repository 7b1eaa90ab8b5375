"""Commands: what ``vaelab score``, ``inspect``, ``anomaly-eval``, ``compare-samplers``,
``sample``, ``explore``, ``evaluate-synthetic`` and ``report`` do with a run folder.

Each opens a :class:`vaelab.runs.run.Run`, calls the analyses and writes its block of
``metrics.json`` and its figures. None of them imports a kind of run: what differs
between kinds, they ask the run's kind. The CLI parses arguments and calls these.
"""
