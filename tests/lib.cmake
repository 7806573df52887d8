# Unit tests for the shared library (lib/): one cmocka executable per module.
bm_unit_test(test_proto test_proto.c)
bm_unit_test(test_util test_util.c)
bm_unit_test(test_width test_width.c)
bm_unit_test(test_config test_config.c)
bm_unit_test(test_jsonx test_jsonx.c)
bm_unit_test(test_json_arena test_json_arena.c)
bm_unit_test(test_webhook test_webhook.c)
