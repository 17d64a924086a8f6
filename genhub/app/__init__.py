"""The app layer: the model registry (:mod:`~genhub.app.registry`), loading (:mod:`~genhub.app.loading`), serving
(:mod:`~genhub.app.serving`: threads, the event decorator), the quiz log (:mod:`~genhub.app.stats`) and the tabs
(:mod:`genhub.app.tabs`, whose ``TABS`` table ``app.py`` and every Space build from)."""
