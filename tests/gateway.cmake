# Unit tests of bianmin-gateway's own parsing (gateway/form.c, session.c,
# html.c), with a bounded random fuzz of every parser.
bm_unit_test(test_gw_form test_gw_form.c LIBS bm_gateway)
