# notifier: pure helpers and the transfer engine (against an HTTP server on
# 127.0.0.1 started inside the test), then the whole program against a fake
# broker speaking BM1 on 127.0.0.1.
find_package(Threads REQUIRED)
bm_unit_test(test_notifier test_notifier.c test_notifier_http.c
  LIBS bm_notifier_core Threads::Threads)
bm_unit_test(test_notifier_loop test_notifier_loop.c test_notifier_http.c
  LIBS bm_notifier_core Threads::Threads)
target_compile_definitions(test_notifier_loop PRIVATE
  NOTIFIER_BIN="$<TARGET_FILE:bianmin-notifier>")
add_dependencies(test_notifier_loop bianmin-notifier)
# notifier: the SSRF guard's address classes and allow list (pure).
bm_unit_test(test_notifier_guard test_notifier_guard.c LIBS bm_notifier_core)
