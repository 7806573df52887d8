# End-to-end tests: real broker, notifier, workers and CLI on ipc:// and a
# loopback HTTP receiver (tests/integration/*.py, Python standard library).
bm_integration_test(e2e test_e2e.py)
bm_integration_test(restart test_restart.py)
bm_integration_test(webhooks test_webhooks.py)
