/* text.h - what the simulated residents, building leaders and volunteers
 * say: buildings, contacts, request texts, notes and rating comments, all
 * derived deterministically from a 311 row's key (and a random draw where
 * the caller passes one). */
#ifndef DEMO_TEXT_H
#define DEMO_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* The channel a row comes in through: unique_key mod 4 among
 * building_leader, council, forum, office. */
const char *demo_channel_for(int64_t key);

/* "朝阳小区 3栋" from the borough and the key. */
void demo_building(const char *borough, int64_t key, char *buf, size_t len);
/* "2-1103" */
void demo_unit(int64_t key, char *buf, size_t len);
/* "王女士 13800012345" */
void demo_contact(int64_t key, char *buf, size_t len);
/* What the resident needs, in Chinese, for the category. */
void demo_request_text(const char *category, int64_t key, char *buf, size_t len);

/* The department an escalation of this category goes to. */
const char *demo_department_for(const char *category);

/* Fixed phrases; pick is any number (taken modulo the list). */
const char *demo_progress_note(uint64_t pick);
const char *demo_done_note(const char *category, uint64_t pick);
const char *demo_cantfix_reason(uint64_t pick);
const char *demo_escalate_reason(const char *category);
const char *demo_resolve_answer(const char *category);
const char *demo_rating_comment(int score, uint64_t pick);
/* A volunteer's display name for index i (0-based). */
void demo_volunteer_name(int i, char *buf, size_t len);

#endif
