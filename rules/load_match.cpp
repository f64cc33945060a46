// A policy's "match": the sender, recipient, client and sasl lists and the
// header conditions. Checks that each list item classifies and fits its list
// (no IP address in a sender list, "<>" only for senders, bare names only
// for sasl), that every %group is defined, and that each header condition
// has a valid name and exactly one of "regex" (one RE2 accepts, placed at
// the character RE2 rejects) or "absent": true.
#include "rules/load_context.h"

#include "rules/header_text.h"
#include "rules/keys.h"

namespace quotamilter::rules::load_internal {

namespace {

constexpr std::size_t kMaxRegexLength = 4096;
constexpr std::size_t kMaxHeaderConditions = 64;

std::string_view expected_items(ListKind list) {
    switch (list) {
        case ListKind::sender: return "user@domain, @domain, @.domain, <>, *, %group";
        case ListKind::recipient: return "user@domain, @domain, @.domain, *, %group";
        case ListKind::client: return "an IP address, a CIDR network, *, %group";
        case ListKind::sasl: return "a user name, @domain, @.domain, *, %group";
    }
    return "";
}

void add_to_set(ItemSet& set, const Item& item, const std::string& origin) {
    switch (item.kind) {
        case Item::Kind::any: set.add_any(origin); break;
        case Item::Kind::null_sender: set.add_null_sender(origin); break;
        case Item::Kind::address: set.add_address(item.address, origin); break;
        case Item::Kind::domain: set.add_domain(item.domain, origin); break;
        case Item::Kind::subdomains: set.add_subdomains(item.domain, origin); break;
        case Item::Kind::network: set.add_network(item.network, origin); break;
        case Item::Kind::name: set.add_name(item.name, origin); break;
        case Item::Kind::group: break;
    }
}

// One item of a list, already classified: a group is expanded, anything
// else must fit the list.
void add_list_item(LoadContext& context, const JsonValue& entry, const Item& item, ListKind list, ItemSet& set,
                   const std::string& what) {
    if (item.kind == Item::Kind::group) {
        auto group = context.groups.find(item.name);
        if (group == context.groups.end()) {
            context.error(entry.position, what + ": undefined group %" + item.name);
        } else if (group->second.valid) {
            std::set<std::string> visiting;
            expand_group(context, item.name, list, set, "%" + item.name, entry.position, visiting);
        }
        return;
    }
    if (!item_fits(list, item.kind)) {
        std::string message = what + ": " + in_quotes(item.text) + " is " + std::string(kind_name(item.kind)) +
                              ", not a " + std::string(list_name(list)) + " item (expected " +
                              std::string(expected_items(list)) + ")";
        if (item.kind == Item::Kind::name && item.text.find('.') != std::string::npos) {
            message += "; did you mean \"@" + item.text + "\"?";
        }
        context.error(entry.position, message);
        return;
    }
    add_to_list_set(list, set, item, item.text);
}

void compile_list(LoadContext& context, const JsonValue& value, ListKind list, MatchList& out) {
    const std::string what = "match." + std::string(list_name(list));
    out.present = true;
    if (!context.expect_kind(value, Kind::array, what)) return;
    out.text = "[";
    for (const JsonValue& entry : value.items) {
        if (!context.expect_kind(entry, Kind::string, what + " item")) continue;
        if (out.text.size() > 1) out.text += ", ";
        out.text += entry.string;
        Item item;
        std::string problem;
        if (!classify_item(entry.string, item, problem)) {
            context.error(entry.position, what + ": " + problem);
            continue;
        }
        if (!item.negated) out.has_positive = true;
        add_list_item(context, entry, item, list, item.negated ? out.negative : out.positive, what);
    }
    out.text += "]";
}

// The regex of a condition: bounded in length, and one RE2 accepts.
void compile_condition_regex(LoadContext& context, const JsonValue& regex, HeaderCondition& condition) {
    condition.regex_text = regex.string;
    if (regex.string.size() > kMaxRegexLength) {
        context.error(regex.position, "match.header regex: " + std::to_string(regex.string.size()) +
                                          " characters, expected at most " + std::to_string(kMaxRegexLength));
        return;
    }
    CompiledRegex compiled = compile_header_regex(regex.string);
    if (!compiled.regex) {
        std::size_t at = compiled.error_fragment.empty() ? std::string::npos : regex.string.find(compiled.error_fragment);
        TextPosition where = regex.position;
        if (at != std::string::npos) where = context.position_inside_string(regex.position, at);
        context.error(where, "match.header regex: RE2 rejects it: " + compiled.error +
                                 " (RE2 syntax: no backreferences or lookaround; (?i) for case-insensitive)");
        return;
    }
    condition.regex = std::move(compiled.regex);
}

bool load_header_condition(LoadContext& context, const JsonValue& value, HeaderCondition& condition) {
    if (!context.expect_kind(value, Kind::object, "match.header condition")) return false;
    const std::size_t errors_before = context.errors.size();
    std::set<std::string> seen;
    const JsonValue* regex = nullptr;
    const JsonValue* absent = nullptr;
    for (const auto& [member, child] : value.members) {
        if (!context.accept_key(member, keys::header_condition, "match.header condition", seen)) continue;
        if (member.key == "name") {
            if (!context.expect_kind(child, Kind::string, "match.header name")) continue;
            if (!is_valid_header_name(child.string)) {
                context.error(child.position, "match.header name: " + in_quotes(child.string) +
                                                  " is not a header name (1 to 128 printable characters, no ':' or blank)");
                continue;
            }
            condition.name_as_written = child.string;
            condition.name = lower_ascii(child.string);
        } else if (member.key == "regex") {
            if (context.expect_kind(child, Kind::string, "match.header regex")) regex = &child;
        } else if (member.key == "absent") {
            if (!context.expect_kind(child, Kind::boolean, "match.header absent")) continue;
            if (!child.boolean) {
                context.error(child.position, "match.header absent: only \"absent\": true makes sense (for \"present\", "
                                              "use \"regex\": \"\" or \"absent\": true with \"negate\": true)");
                continue;
            }
            absent = &child;
        } else if (member.key == "negate") {
            if (context.expect_kind(child, Kind::boolean, "match.header negate")) condition.negate = child.boolean;
        }
    }
    if (!seen.count("name") && !seen.count("?name")) {
        context.error(value.position, "match.header condition: missing key \"name\" (the header name, e.g. \"From\")");
    }
    if (regex && absent) {
        context.error(absent->position, "match.header condition: \"regex\" and \"absent\" together (expected one of them)");
    } else if (!regex && !absent && !seen.count("?regex") && !seen.count("?absent") && !seen.count("regex") &&
               !seen.count("absent")) {
        context.error(value.position, "match.header condition: expected \"regex\": \"...\" or \"absent\": true");
    }
    condition.absent = absent != nullptr;
    if (regex && !absent) compile_condition_regex(context, *regex, condition);
    return context.errors.size() == errors_before;
}

void load_header_conditions(LoadContext& context, const JsonValue& value, PolicyMatch& match) {
    if (!context.expect_kind(value, Kind::array, "match.header")) return;
    if (value.items.empty()) {
        context.error(value.position,
                      "match.header: expected at least one condition such as {\"name\": \"From\", \"regex\": \"...\"}");
        return;
    }
    if (value.items.size() > kMaxHeaderConditions) {
        context.error(value.position,
                      "match.header: more than " + std::to_string(kMaxHeaderConditions) + " conditions in one policy");
        return;
    }
    for (const JsonValue& entry : value.items) {
        HeaderCondition condition;
        if (load_header_condition(context, entry, condition)) match.headers.push_back(std::move(condition));
    }
}

}  // namespace

std::string_view list_name(ListKind kind) {
    switch (kind) {
        case ListKind::sender: return "sender";
        case ListKind::recipient: return "recipient";
        case ListKind::client: return "client";
        case ListKind::sasl: return "sasl";
    }
    return "";
}

bool item_fits(ListKind list, Item::Kind kind) {
    switch (kind) {
        case Item::Kind::any:
        case Item::Kind::group: return true;
        case Item::Kind::null_sender: return list == ListKind::sender;
        case Item::Kind::address:
        case Item::Kind::domain:
        case Item::Kind::subdomains: return list != ListKind::client;
        case Item::Kind::network: return list == ListKind::client;
        case Item::Kind::name: return list == ListKind::sasl;
    }
    return false;
}

// SASL names are compared as written (lower case): "user+x@d" is a
// different login from "user@d", unlike envelope addresses.
void add_to_list_set(ListKind list, ItemSet& set, const Item& item, const std::string& origin) {
    if (list == ListKind::sasl && item.kind == Item::Kind::address) {
        set.add_name(item.name, origin);
        return;
    }
    add_to_set(set, item, origin);
}

void load_match(LoadContext& context, const JsonValue& value, Policy& policy) {
    auto match = std::make_shared<PolicyMatch>();
    if (context.expect_kind(value, Kind::object, "match")) {
        std::set<std::string> seen;
        for (const auto& [member, child] : value.members) {
            if (!context.accept_key(member, keys::match, "match", seen)) continue;
            if (member.key == "sender") compile_list(context, child, ListKind::sender, match->sender);
            else if (member.key == "recipient") compile_list(context, child, ListKind::recipient, match->recipient);
            else if (member.key == "client") compile_list(context, child, ListKind::client, match->client);
            else if (member.key == "sasl") compile_list(context, child, ListKind::sasl, match->sasl);
            else if (member.key == "header") load_header_conditions(context, child, *match);
        }
    }
    policy.match = std::move(match);
}

}  // namespace quotamilter::rules::load_internal
