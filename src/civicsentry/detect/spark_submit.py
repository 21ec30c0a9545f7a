"""Entry point for ``spark-submit``, which runs only ``.py`` files: the ``civicsentry``
command line, with the session that spark-submit configured (its ``--master`` and
``--conf`` apply unless ``--spark-master``/``--spark-conf`` are given).

    spark-submit --master yarn --deploy-mode client [--conf ...] \\
        "$(python -c 'import civicsentry.detect.spark_submit as m; print(m.__file__)')" \\
        detect -w case.duckdb --engine spark --spark-input s3a://... --spark-dir s3a://...

See docs/distributed.md.
"""

from __future__ import annotations

if __name__ == "__main__":
    from civicsentry.cli import main

    main()
