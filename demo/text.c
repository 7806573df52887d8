/* text.c - the demo's Chinese texts. A NYC borough becomes a neighbourhood
 * (小区) of the community, a 311 complaint type a resident's own words. */
#include "text.h"

#include "util.h"

#include <stdio.h>
#include <string.h>

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static const char *const channels[] = {"building_leader", "council", "forum", "office"};

static const struct {
    const char *borough, *estate;
} estates[] = {
    {"BROOKLYN", "朝阳小区"}, {"QUEENS", "和平小区"},   {"MANHATTAN", "市政小区"},
    {"BRONX", "幸福小区"},    {"STATEN ISLAND", "滨江小区"},
};

static const char *const surnames[] = {"王", "李", "张", "刘", "陈", "杨", "黄",
                                       "赵", "周", "吴", "罗", "袁", "孙", "马"};

static const char *const texts_pipe[] = {
    "厨房下水道堵了，水排不下去，碗都没法洗。",
    "卫生间马桶堵塞，一冲水就往外冒。",
    "楼道排污管有异味，下水特别慢，邻居也在反映。",
    "洗手池下水不通，用了疏通剂也没用。",
};
static const char *const texts_leak[] = {
    "楼上漏水，天花板一直在滴水，墙皮已经鼓起来了。",
    "自来水管接头漏水，地上积了一滩水，总阀关不紧。",
    "暖气管道漏水，水流到楼下邻居家里去了，很着急。",
    "水表前的阀门滴水不止，请尽快来看看。",
};
static const char *const texts_lock[] = {
    "入户门的锁坏了，钥匙插进去转不动，人在门外进不去。",
    "窗户锁扣松了关不严，晚上刮风响，不安全。",
    "单元门门禁锁失灵，老人出入很不方便。",
};
static const char *const texts_repair[] = {
    "暖气不热，屋里只有十几度，孩子已经感冒了。",
    "家里跳闸以后一直没电，冰箱里的东西快坏了。",
    "热水器不出热水，插座有一股焦味，不敢再用了。",
    "楼道灯不亮好几天了，晚上上下楼看不见。",
};
static const char *const texts_other[] = {
    "楼下有人深夜噪音扰民，已经好几天了。",
    "小区门口车辆乱停，挡住了消防通道。",
    "垃圾好几天没人清运，味道很大。",
};
static const char *const details[] = {
    "家里白天只有老人在，来之前请先打电话。",
    "住户腿脚不方便，需要师傅上门。",
    "晚上七点以后家里有人，周末全天都在。",
    "楼长已经去看过，确实需要专业的师傅处理。",
    "",
};

const char *demo_channel_for(int64_t key)
{
    return channels[(key % 4 + 4) % 4];
}

static uint64_t ukey(int64_t key)
{
    return key < 0 ? (uint64_t)(-key) : (uint64_t)key;
}

void demo_building(const char *borough, int64_t key, char *buf, size_t len)
{
    const char *estate = "新村小区";
    for (size_t i = 0; i < N_OF(estates); i++) {
        if (borough && strcmp(borough, estates[i].borough) == 0)
            estate = estates[i].estate;
    }
    snprintf(buf, len, "%s %llu栋", estate, (unsigned long long)(ukey(key) % 6 + 1));
}

void demo_unit(int64_t key, char *buf, size_t len)
{
    uint64_t k = ukey(key) / 6;
    snprintf(buf, len, "%llu-%llu%02llu", (unsigned long long)(k % 6 + 1),
             (unsigned long long)(k / 6 % 18 + 1), (unsigned long long)(k / 108 % 4 + 1));
}

void demo_contact(int64_t key, char *buf, size_t len)
{
    uint64_t k = ukey(key);
    snprintf(buf, len, "%s%s 138%08llu", surnames[k % N_OF(surnames)],
             (k / 7) % 2 ? "女士" : "先生", (unsigned long long)(k % 100000000ULL));
}

void demo_request_text(const char *category, int64_t key, char *buf, size_t len)
{
    uint64_t k = ukey(key);
    const char *main_text;
    if (strcmp(category, "pipe") == 0)
        main_text = texts_pipe[k % N_OF(texts_pipe)];
    else if (strcmp(category, "leak") == 0)
        main_text = texts_leak[k % N_OF(texts_leak)];
    else if (strcmp(category, "lock") == 0)
        main_text = texts_lock[k % N_OF(texts_lock)];
    else if (strcmp(category, "repair") == 0)
        main_text = texts_repair[k % N_OF(texts_repair)];
    else
        main_text = texts_other[k % N_OF(texts_other)];
    snprintf(buf, len, "%s%s", main_text, details[(k / 5) % N_OF(details)]);
}

const char *demo_department_for(const char *category)
{
    if (strcmp(category, "leak") == 0 || strcmp(category, "pipe") == 0)
        return "water_company";
    if (strcmp(category, "repair") == 0)
        return "power_company";
    if (strcmp(category, "lock") == 0)
        return "housing_bureau";
    return "street_office";
}

const char *demo_progress_note(uint64_t pick)
{
    static const char *const notes[] = {
        "已到现场，正在查看情况。",
        "需要买配件，下午再来。",
        "已经拆开检查，问题比较复杂，还要一会儿。",
        "住户不在家，约了晚上再来。",
    };
    return notes[pick % N_OF(notes)];
}

const char *demo_done_note(const char *category, uint64_t pick)
{
    static const char *const pipe[] = {"疏通完毕，已试水。", "管道已清理，下水正常。"};
    static const char *const leak[] = {"已更换接头，不再漏水。", "阀门已更换，已试压。"};
    static const char *const lock[] = {"锁芯已更换，钥匙交给住户。", "锁扣已紧固，门窗关严了。"};
    static const char *const repair[] = {"线路已检修，恢复供电。", "已排气调试，暖气热了。"};
    static const char *const other[] = {"已协调处理，住户满意。", "已到现场处理完毕。"};
    const char *const *list = other;
    if (strcmp(category, "pipe") == 0)
        list = pipe;
    else if (strcmp(category, "leak") == 0)
        list = leak;
    else if (strcmp(category, "lock") == 0)
        list = lock;
    else if (strcmp(category, "repair") == 0)
        list = repair;
    return list[pick % 2];
}

const char *demo_cantfix_reason(uint64_t pick)
{
    static const char *const reasons[] = {
        "需要专用工具，我这里没有。",
        "配件型号不对，需要换别的师傅。",
        "问题在墙里，需要专业人员处理。",
    };
    return reasons[pick % N_OF(reasons)];
}

const char *demo_escalate_reason(const char *category)
{
    if (strcmp(category, "leak") == 0 || strcmp(category, "pipe") == 0)
        return "小区主管道破裂，需要自来水公司处理。";
    if (strcmp(category, "repair") == 0)
        return "楼栋总闸故障，需要供电公司处理。";
    if (strcmp(category, "lock") == 0)
        return "单元门整体损坏，需要房管部门更换。";
    return "超出社区处理范围，需要街道协调。";
}

const char *demo_resolve_answer(const char *category)
{
    if (strcmp(category, "leak") == 0 || strcmp(category, "pipe") == 0)
        return "自来水公司已派人抢修，主管道已修复。";
    if (strcmp(category, "repair") == 0)
        return "供电公司已更换总闸，恢复供电。";
    if (strcmp(category, "lock") == 0)
        return "房管所已更换单元门。";
    return "街道已协调相关部门处理完毕。";
}

const char *demo_rating_comment(int score, uint64_t pick)
{
    static const char *const c5[] = {"师傅很快，态度也好。", "当天就修好了，谢谢社区！", ""};
    static const char *const c4[] = {"修好了，就是等得有点久。", "挺好的。", ""};
    static const char *const c3[] = {"问题解决了，来之前没打电话。", "一般。"};
    static const char *const c2[] = {"等了很久才有人来。", "修完还有点问题。"};
    static const char *const c1[] = {"修完第二天又坏了。", "打了好几次电话才来。"};
    switch (score) {
    case 5: return c5[pick % N_OF(c5)];
    case 4: return c4[pick % N_OF(c4)];
    case 3: return c3[pick % N_OF(c3)];
    case 2: return c2[pick % N_OF(c2)];
    default: return c1[pick % N_OF(c1)];
    }
}

void demo_volunteer_name(int i, char *buf, size_t len)
{
    static const char *const names[] = {"袁建成", "罗秀英", "王德明", "李桂兰", "张志强",
                                        "刘凤霞", "陈国华", "杨淑珍", "黄永刚", "赵丽娟",
                                        "周海涛", "吴春梅"};
    int n = (int)N_OF(names);
    if (i < n)
        bm_strlcpy(buf, names[i], len);
    else
        snprintf(buf, len, "%s%d", names[i % n], i / n + 1);
}
