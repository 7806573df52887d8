# `make install` (cmake --install): the programs, the example config, the
# systemd units and sysusers entry, and the docs. Paths are those of
# CMAKE_INSTALL_PREFIX at configure time (the top Makefile's PREFIX); DESTDIR
# stages the whole tree elsewhere (packaging, tests/integration/test_install.py).
include(GNUInstallDirs)

# Empty: under the prefix of this configure run (PREFIX/lib/systemd/system,
# PREFIX/lib/sysusers.d), so a later PREFIX moves them too.
set(BM_SYSTEMD_UNITDIR "" CACHE PATH "where the systemd units go (empty: PREFIX/lib/systemd/system)")
set(BM_SYSUSERSDIR "" CACHE PATH "where the sysusers.d entry goes (empty: PREFIX/lib/sysusers.d)")
set(BM_UNITDIR "${BM_SYSTEMD_UNITDIR}")
if(NOT BM_UNITDIR)
  set(BM_UNITDIR "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
endif()
set(BM_USERSDIR "${BM_SYSUSERSDIR}")
if(NOT BM_USERSDIR)
  set(BM_USERSDIR "${CMAKE_INSTALL_PREFIX}/lib/sysusers.d")
endif()
# For tests/integration/test_install.py: where this configuration installs the units.
file(WRITE ${CMAKE_BINARY_DIR}/install-dirs.txt "unitdir=${BM_UNITDIR}\nprefix=${CMAKE_INSTALL_PREFIX}\n")

install(TARGETS bianmin bianmin-broker bianmin-worker bianmin-notifier
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# The example config beside where the real one goes (the real one holds
# secrets: the operator writes it, mode 0640 root:bianmin; docs/operations.md).
install(FILES config/bianmin.example.json
        DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/bianmin
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)

install(FILES README.md docs/architecture.md docs/protocol.md docs/lifecycle.md
              docs/stats.md docs/benchmarks.md docs/operations.md docs/metrics-alerts.yml
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES worker/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} RENAME worker.md)

# Units, with the install paths filled in.
set(BINDIR "${CMAKE_INSTALL_FULL_BINDIR}")
set(SYSCONFDIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}")
set(DOCDIR "${CMAKE_INSTALL_FULL_DOCDIR}")
set(BM_UNITS bianmin-broker.service bianmin-notifier.service bianmin-backup.service)
if(TARGET bianmin-gateway)
  list(APPEND BM_UNITS bianmin-gateway.service)
  install(TARGETS bianmin-gateway RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
foreach(unit IN LISTS BM_UNITS)
  configure_file(systemd/${unit}.in ${CMAKE_BINARY_DIR}/systemd/${unit} @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/systemd/${unit} DESTINATION ${BM_UNITDIR})
endforeach()
install(FILES systemd/bianmin-backup.timer DESTINATION ${BM_UNITDIR})
install(FILES systemd/bianmin.sysusers DESTINATION ${BM_USERSDIR} RENAME bianmin.conf)
