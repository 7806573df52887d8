# The broker and the store, through the real protocol (broker in a thread).
add_library(bm_testutil STATIC ${CMAKE_CURRENT_LIST_DIR}/testutil.c ${CMAKE_CURRENT_LIST_DIR}/faultvfs.c)
target_include_directories(bm_testutil PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(bm_testutil PUBLIC bm_broker bm_store bm_common)
find_package(Threads REQUIRED)
target_link_libraries(bm_testutil PUBLIC Threads::Threads)
target_compile_definitions(bm_testutil PRIVATE BM_BIN_DIR="${CMAKE_BINARY_DIR}/bin")

bm_unit_test(test_broker ${CMAKE_CURRENT_LIST_DIR}/test_broker.c LIBS bm_testutil)
bm_unit_test(test_lifecycle ${CMAKE_CURRENT_LIST_DIR}/test_lifecycle.c LIBS bm_testutil)
bm_unit_test(test_garbage ${CMAKE_CURRENT_LIST_DIR}/test_garbage.c LIBS bm_testutil)
bm_unit_test(test_store ${CMAKE_CURRENT_LIST_DIR}/test_store.c LIBS bm_testutil)
bm_unit_test(test_store_lifecycle ${CMAKE_CURRENT_LIST_DIR}/test_store_lifecycle.c LIBS bm_testutil)
# Authentication through the real bianmin-broker program (CURVE, ZAP, roles, limits).
bm_unit_test(test_auth ${CMAKE_CURRENT_LIST_DIR}/test_auth.c LIBS bm_testutil)
set_tests_properties(test_auth PROPERTIES TIMEOUT 300)
bm_unit_test(test_faults ${CMAKE_CURRENT_LIST_DIR}/test_faults.c LIBS bm_testutil)
bm_unit_test(test_dispatch ${CMAKE_CURRENT_LIST_DIR}/test_dispatch.c LIBS bm_testutil)
bm_unit_test(test_users ${CMAKE_CURRENT_LIST_DIR}/test_users.c LIBS bm_testutil)
