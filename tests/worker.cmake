# worker: unit tests of bianmin-worker's pure parts (flags, command lines,
# event text) and of its session against a fake broker ROUTER on ipc://.
find_package(Threads REQUIRED)
bm_unit_test(test_worker_parse test_worker_parse.c LIBS bm_worker)
bm_unit_test(test_worker_event test_worker_event.c LIBS bm_worker)
bm_unit_test(test_worker_remind test_worker_remind.c LIBS bm_worker)
bm_unit_test(test_worker_session test_worker_session.c LIBS bm_worker Threads::Threads)
