/* login.c - logging in and out (one login page for the office console and
 * the building leaders' form), reading POSTed forms with their CSRF check,
 * and the role checks the pages start with. */
#include "gw.h"
#include "server.h"
#include "log.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

int gw_read_form(gw_req_t *r, gw_resp_t *resp, gw_form_t *form)
{
    bool multi = r->content_type && strncmp(r->content_type, "multipart/form-data", 19) == 0;
    int rc = multi ? form_parse_multipart(r->body, r->body_len, r->content_type, form)
                   : form_parse_urlencoded(r->body, r->body_len, form);
    if (rc != 0) {
        html_error(r, resp, 400, "表单内容不完整或格式不对，请重新填写", "the form could not be read: please fill it in again");
        return -1;
    }
    if (r->new_nonce || !csrf_ok(r->cfg->secret, r->csrf_nonce, form_get(form, "csrf"))) {
        html_error(r, resp, 403, "页面已过期或缺少安全令牌：请刷新页面后再提交",
                   "the page has expired or its security token is missing: reload it and submit again");
        return -1;
    }
    return 0;
}

bool gw_require(gw_req_t *r, gw_resp_t *resp, bool office)
{
    if (!r->logged_in) {
        resp_redirect(resp, "/login");
        return false;
    }
    bool is_office = strcmp(r->sess.role, "office") == 0;
    if (office != is_office) {
        html_error(r, resp, 403, office ? "这个页面只给社区办公室用" : "这个页面只给楼栋长等渠道用",
                   office ? "this page is for the office only" : "this page is for channels (building leaders) only");
        return false;
    }
    return true;
}

const char *gw_session_channel(const gw_req_t *r)
{
    return strncmp(r->sess.role, "channel:", 8) == 0 ? r->sess.role + 8 : "";
}

void gw_broker_page(gw_req_t *r, gw_resp_t *resp, bm_rpc_result_t rc, const bm_error_t *err)
{
    if (rc != BM_RPC_ERROR) {
        html_error(r, resp, 503, "服务站暂时联系不上，请稍后再试", "the station is not answering: try again later");
        return;
    }
    int status = strcmp(err->code, BM_ERR_NOT_FOUND) == 0 ? 404
                 : strcmp(err->code, BM_ERR_FORBIDDEN) == 0 ? 403 : 400;
    html_error(r, resp, status, err->message, err->code);
}

static void login_page(gw_req_t *r, gw_resp_t *resp, int status, const char *error)
{
    resp->status = status;
    resp->body.len = 0;
    gw_buf_t *b = &resp->body;
    html_begin(b, r, "登录", "Log in");
    if (error) {
        buf_puts(b, "<p class=\"error\">");
        buf_html(b, error);
        buf_puts(b, "</p>");
    }
    buf_puts(b, "<form method=\"post\" action=\"/login\" class=\"card\">");
    html_csrf(b, r);
    buf_puts(b, "<label for=\"user\">登录名 <small>Login</small></label>"
                "<input type=\"text\" id=\"user\" name=\"user\" autocomplete=\"username\" required>"
                "<label for=\"password\">密码 <small>Password</small></label>"
                "<input type=\"password\" id=\"password\" name=\"password\" "
                "autocomplete=\"current-password\" required>"
                "<p><button type=\"submit\">登录 / Log in</button></p></form>");
    html_end(b);
}

void login_handle(gw_req_t *r, gw_resp_t *resp)
{
    bool post = strcmp(r->method, "POST") == 0;
    if (strcmp(r->path, "/logout") == 0) {
        gw_form_t form = {0};
        if (post && gw_read_form(r, resp, &form) == 0) {
            gw_clear_session(r, resp);
            resp_redirect(resp, "/login");
        } else if (!post) {
            html_error(r, resp, 405, "请用页面上的退出按钮", "use the log out button");
        }
        form_clear(&form);
        return;
    }
    if (!post) {
        login_page(r, resp, 200, NULL);
        return;
    }
    gw_form_t form = {0};
    if (gw_read_form(r, resp, &form) != 0) {
        form_clear(&form);
        return;
    }
    int wait = gw_login_wait(r->gw, r->addr);
    if (wait > 0) {
        char msg[200];
        snprintf(msg, sizeof msg, "登录失败次数太多，请 %d 秒后再试 / too many failed logins: try again in %d s",
                 wait, wait);
        resp->retry_after = wait;
        login_page(r, resp, 429, msg);
        form_clear(&form);
        return;
    }
    const char *user = form_get(&form, "user"), *pw = form_get(&form, "password");
    cJSON *b = cJSON_CreateObject(), *reply = NULL;
    cJSON_AddStringToObject(b, "user", user ? user : "");
    cJSON_AddStringToObject(b, "password", pw ? pw : "");
    bm_error_t err = {0};
    bm_rpc_result_t rc = gw_call(r->gw, BM_CMD_LOGIN, NULL, b, NULL, 0, &reply, &err);
    explicit_bzero(cJSON_GetObjectItemCaseSensitive(b, "password")->valuestring, pw ? strlen(pw) : 0);
    cJSON_Delete(b);
    if (rc == BM_RPC_OK) {
        gw_session_t s = {0};
        bm_strlcpy(s.user, gw_jstr(reply, "user"), sizeof s.user);
        bm_strlcpy(s.name, gw_jstr(reply, "name"), sizeof s.name);
        bm_strlcpy(s.role, gw_jstr(reply, "role"), sizeof s.role);
        s.expires = bm_now_ms() / 1000 + r->cfg->session_s;
        gw_login_result(r->gw, r->addr, true);
        gw_set_session(r, resp, &s);
        resp_redirect(resp, strcmp(s.role, "office") == 0 ? "/office/" : "/submit");
        log_info("登录 / login: %s (%s) from %s", s.user, s.role, r->addr);
    } else if (rc == BM_RPC_ERROR && strcmp(err.code, "bad_login") == 0) {
        gw_login_result(r->gw, r->addr, false);
        log_info("登录失败 / failed login from %s", r->addr);
        login_page(r, resp, 401, err.message);
    } else {
        gw_broker_page(r, resp, rc, &err);
    }
    cJSON_Delete(reply);
    form_clear(&form);
}
