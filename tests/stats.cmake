# stats: the office's monthly figures on a fixed database (worked out by hand),
# and `bianmin export` writing the month's case archive.
add_library(bm_stats_fixture STATIC ${CMAKE_CURRENT_LIST_DIR}/test_stats_fixture.c)
target_include_directories(bm_stats_fixture PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(bm_stats_fixture PUBLIC bm_store bm_common)
bm_unit_test(test_stats ${CMAKE_CURRENT_LIST_DIR}/test_stats.c LIBS bm_stats bm_stats_fixture m)
bm_unit_test(test_export ${CMAKE_CURRENT_LIST_DIR}/test_export.c LIBS bm_cli bm_stats_fixture)
