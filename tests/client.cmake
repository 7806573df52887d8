# client: unit tests of the `bianmin` CLI's pure parts, and its --stdin
# pipeline against a fake broker (a ROUTER on ipc:// in a temp dir).
find_package(Threads REQUIRED)
# Shared by the client tests: parsing and formatting helpers, the fake broker.
add_library(bm_clitest STATIC ${CMAKE_CURRENT_LIST_DIR}/clitest.c)
target_include_directories(bm_clitest PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(bm_clitest PUBLIC bm_cli PkgConfig::CMOCKA Threads::Threads)
bm_unit_test(test_client_args test_client_args.c LIBS bm_cli)
bm_unit_test(test_client_status test_client_status.c LIBS bm_clitest)
bm_unit_test(test_client_batch test_client_batch.c LIBS bm_clitest)
bm_unit_test(test_client_width test_client_width.c LIBS bm_cli)
bm_unit_test(test_client_act test_client_act.c LIBS bm_clitest)
bm_unit_test(test_client_list test_client_list.c LIBS bm_clitest)
bm_unit_test(test_client_ops test_client_ops.c LIBS bm_clitest)
