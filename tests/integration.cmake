# End-to-end tests: real broker, notifier, workers and CLI on ipc:// and a
# loopback HTTP receiver (tests/integration/*.py, Python standard library).
bm_integration_test(e2e test_e2e.py)
bm_integration_test(restart test_restart.py)
bm_integration_test(webhooks test_webhooks.py)
bm_integration_test(worker_flow test_worker_flow.py)
bm_integration_test(report_html test_report_html.py)
set_tests_properties(report_html PROPERTIES SKIP_RETURN_CODE 77) # no chromium: skipped, not passed
bm_integration_test(full_disk test_full_disk.py)
set_tests_properties(full_disk PROPERTIES SKIP_RETURN_CODE 77) # not root: the tmpfs part is skipped
bm_integration_test(worker_term test_worker_term.py)
bm_integration_test(cli_convention test_cli_convention.py)
bm_integration_test(open311 test_open311.py)
bm_integration_test(gateway_pages test_gateway_pages.py)
bm_integration_test(browser test_browser.py)
set_tests_properties(browser PROPERTIES SKIP_RETURN_CODE 77) # no chromium / playwright-core: skipped
bm_integration_test(auth test_auth.py)
