# Operations (issue 14): --version, make install, the systemd units and
# readiness, backup and restore, metrics, logs, upgrades.

# Every program answers --version with the project and the schema version.
foreach(prog bianmin bianmin-broker bianmin-worker bianmin-notifier bianmin-bench bianmin-demo)
  add_test(NAME version_${prog} COMMAND ${CMAKE_BINARY_DIR}/bin/${prog} --version)
  string(REPLACE "." "\\." ver_re "${PROJECT_VERSION}")
  set_tests_properties(version_${prog} PROPERTIES
    PASS_REGULAR_EXPRESSION "^${prog} ${ver_re} \\([^)]*schema ${BM_SCHEMA_VERSION}\\)\n$")
endforeach()

# File helpers, backup/restore failure paths, the metrics address, JSON logs.
bm_unit_test(test_ops test_ops.c LIBS bm_backup bm_broker)

# make install under a temp DESTDIR; systemd-analyze verify on the units.
foreach(what install units)
  add_test(NAME ops_${what}
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_install.py ${what}
            --build ${CMAKE_BINARY_DIR} --version ${PROJECT_VERSION})
  set_tests_properties(ops_${what} PROPERTIES TIMEOUT 180 RESOURCE_LOCK bm_install_manifest)
endforeach()
set_tests_properties(ops_units PROPERTIES SKIP_RETURN_CODE 77)

# READY=1 once the sockets are bound, STOPPING=1 on SIGTERM (sd_notify).
bm_integration_test(ops_notify test_notify.py)
bm_integration_test(ops_backup test_backup.py)
bm_integration_test(ops_metrics test_metrics.py)
bm_integration_test(ops_logs test_logs.py)
bm_integration_test(ops_upgrade test_upgrade.py)
