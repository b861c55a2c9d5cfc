"""Running configurations: the worker process and its protocol, executors (where configurations run, by
name), the session that stores every outcome as it happens, the budget predictor and progress display.
Imports config, results and (in the worker) measure."""
