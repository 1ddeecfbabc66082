"""What a window measures, each as ``MetricRecord``s: whylogs profiles (``profiling``), data
quality constraints (``data_quality``), the schema check (``schema``), drift (``drift``), model
quality (``quality``) and the Evidently HTML report (``reports``).

Nothing is imported here: whylogs and Evidently take seconds to import, and a caller that needs
only drift statistics (or a worker process that only profiles) should not pay for them.
"""
