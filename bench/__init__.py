"""Benchmarks of mailbot on real servers on loopback; run each as a script
(``python bench/bench_pipeline.py``). A package so that the scripts share their
helpers (``bench._servers``, ``bench._setting``, ...) and mypy reads them by one name."""
