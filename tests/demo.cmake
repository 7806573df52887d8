# Unit tests for the replay demo (demo/): the 311 CSV loader and schedule,
# the generated texts and the progress line. Pure functions, no sockets.
bm_unit_test(test_demo_csv test_demo_csv.c LIBS bm_demo)
bm_unit_test(test_demo_text test_demo_text.c LIBS bm_demo)
bm_unit_test(test_demo_retime test_demo_retime.c LIBS bm_demo bm_stats_fixture)
