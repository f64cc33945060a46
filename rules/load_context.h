// Internal to rules/ (the public interface is rules/load.h): what the parts
// of the loader share while they read one rule file -- the file, the errors
// found so far, the rules being built, the groups and the defaults -- and
// the entry points each part offers the others. rules/load.cpp drives;
// every rules/load_*.cpp checks one part of the file.
#pragma once

#include "rules/item.h"
#include "rules/json_tree.h"
#include "rules/load.h"
#include "rules/match.h"
#include "rules/rule_set.h"

#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace quotamilter::rules::load_internal {

using Kind = JsonValue::Kind;

// The longest reply text; a tag header value has the same bound.
inline constexpr std::size_t kMaxReplyText = 900;

struct PositionedItem {
    Item item;
    TextPosition position;
};

// The policy-list a match list belongs to decides which items make sense.
enum class ListKind { sender, recipient, client, sasl };

struct GroupDefinition {
    TextPosition position;  // of the key
    std::vector<PositionedItem> items;
    bool valid = true;
};

// The SMTP code and enhanced code written next to a verdict (unset where
// absent or invalid), with where each was written.
struct SmtpCodes {
    std::optional<std::string> code;
    TextPosition code_position;
    std::optional<std::string> xcode;
    TextPosition xcode_position;
};

struct Defaults {
    std::optional<Verdict> verdict;
    TextPosition verdict_position;
    std::optional<Mode> mode;
    std::optional<std::string> reply;
    SmtpCodes codes;
};

// The state of one load; the generic checks live in rules/load_diagnostics.cpp.
struct LoadContext {
    std::string file;
    std::string_view text;  // the file, to place errors inside a string (a regex)
    std::vector<Diagnostic> errors;
    RuleSet rules;
    std::map<std::string, GroupDefinition> groups;
    Defaults defaults;

    void error(TextPosition where, std::string message);
    bool expect_kind(const JsonValue& value, Kind kind, std::string_view what);
    // Reports unknown and duplicate keys; returns false for a key to skip.
    bool accept_key(const JsonMember& member, std::span<const std::string_view> known, std::string_view where,
                    std::set<std::string>& seen);
    std::optional<std::string> get_string(const JsonValue& value, std::string_view what);
    TextPosition position_inside_string(TextPosition opening_quote, std::size_t decoded_offset) const;
};

// ---- rules/load_diagnostics.cpp --------------------------------------------

std::string in_quotes(std::string_view text);
bool contains(std::span<const std::string_view> words, std::string_view word);
// RFC 5321 textstring: HT and printable; anything else could corrupt a reply or a header.
bool has_control_characters(std::string_view text);

// ---- rules/load_groups.cpp -------------------------------------------------

void load_groups(LoadContext& context, const JsonValue& value);
// Adds the members of group `name` (recursively) to `set`, reporting at
// `reference` any member that cannot match in this kind of list.
void expand_group(LoadContext& context, const std::string& name, ListKind list, ItemSet& set, const std::string& origin,
                  TextPosition reference, std::set<std::string>& visiting);

// ---- rules/load_match.cpp --------------------------------------------------

std::string_view list_name(ListKind kind);
bool item_fits(ListKind list, Item::Kind kind);
void add_to_list_set(ListKind list, ItemSet& set, const Item& item, const std::string& origin);
void load_match(LoadContext& context, const JsonValue& value, Policy& policy);

// ---- rules/load_replies.cpp ------------------------------------------------

std::optional<Verdict> parse_verdict(std::string_view text);
std::optional<Verdict> parse_quota_verdict(LoadContext& context, const JsonValue& value);
std::optional<Mode> parse_mode(LoadContext& context, const JsonValue& value);
// `only_policy`: a content rule's reply, where only {policy} has a value.
std::optional<std::string> parse_reply_text(LoadContext& context, const JsonValue& value, bool only_policy = false);
// `key` "code" or "xcode": checks `value` and keeps it and its position in `codes`.
void read_smtp_code(LoadContext& context, std::string_view key, const JsonValue& value, SmtpCodes& codes);
void check_codes_agree(LoadContext& context, Verdict verdict, const SmtpCodes& codes, std::string_view where);
void check_inherited_code(LoadContext& context, Verdict verdict, const std::string& value, std::string_view key,
                          TextPosition verdict_position);

// ---- rules/load_quotas.cpp -------------------------------------------------

void load_quotas(LoadContext& context, const JsonValue& value, Policy& policy);

// ---- rules/load_policies.cpp -----------------------------------------------

void load_defaults(LoadContext& context, const JsonValue& value);
void load_policies(LoadContext& context, const JsonValue& value);

}  // namespace quotamilter::rules::load_internal
