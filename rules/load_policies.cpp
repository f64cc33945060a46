// "defaults" and "policies". Defaults: verdict, mode, reply, code, xcode,
// and that their code and xcode agree with their verdict. A policy: a valid,
// unique name, a priority from 0 to 1000000, a match, and exactly one of
// "quotas", "exempt": true or a "verdict" of its own (a content rule, whose
// reply, code, xcode and tag_header are checked here; a quota's in
// rules/load_quotas.cpp). Policies end up sorted by priority, then file order.
#include "rules/load_context.h"

#include "rules/header_text.h"
#include "rules/keys.h"

#include <algorithm>
#include <array>
#include <tuple>

namespace quotamilter::rules::load_internal {

namespace {

constexpr std::int64_t kMaxPriority = 1000000;

// A key of a policy, read after the loop: its value and the position of the key.
struct KeyedValue {
    const JsonValue* value = nullptr;
    TextPosition key;
};

// The keys of a content rule (a policy with its own verdict).
struct ContentRuleKeys {
    const JsonValue* verdict = nullptr;
    KeyedValue reply, code, xcode, tag_header;

    // reply, code, xcode and tag_header belong to a verdict.
    std::array<std::pair<std::string_view, KeyedValue*>, 4> dependents() {
        return {{{"reply", &reply}, {"code", &code}, {"xcode", &xcode}, {"tag_header", &tag_header}}};
    }
};

// The keys of one policy that are checked together once all are read.
struct PolicyKeys {
    std::set<std::string> seen;
    const JsonValue* exempt = nullptr;
    const JsonValue* quotas = nullptr;
    ContentRuleKeys content;
};

// `names`: the policy names so far, with where each was first used.
void load_policy_name(LoadContext& context, const JsonValue& value, Policy& policy,
                      std::map<std::string, TextPosition>& names) {
    if (!context.expect_kind(value, Kind::string, "name")) return;
    if (!is_valid_name(value.string)) {
        context.error(value.position, "name: " + in_quotes(value.string) +
                                          " is not a valid policy name (expected 1 to 64 of A-Z a-z 0-9 _ . -)");
        return;
    }
    auto [previous, inserted] = names.emplace(value.string, value.position);
    if (!inserted) {
        context.error(value.position, "name: duplicate policy name " + in_quotes(value.string) + " (first used at line " +
                                          std::to_string(previous->second.line) + ")");
    }
    policy.name = value.string;
}

void load_policy_member(LoadContext& context, const JsonMember& member, const JsonValue& child, Policy& policy,
                        std::map<std::string, TextPosition>& names, PolicyKeys& given) {
    ContentRuleKeys& content = given.content;
    if (member.key == "name") {
        load_policy_name(context, child, policy, names);
    } else if (member.key == "priority") {
        if (child.kind != Kind::integer || child.integer < 0 || child.integer > kMaxPriority) {
            context.error(child.position, "priority: expected an integer from 0 to 1000000");
            return;
        }
        policy.priority = static_cast<int>(child.integer);
    } else if (member.key == "description") {
        if (auto text = context.get_string(child, "description")) policy.description = *text;
    } else if (member.key == "match") {
        load_match(context, child, policy);
    } else if (member.key == "exempt") {
        if (context.expect_kind(child, Kind::boolean, "exempt")) given.exempt = &child;
        else given.seen.insert("?exempt");
    } else if (member.key == "mode") {
        if (auto mode = parse_mode(context, child)) policy.mode = *mode;
    } else if (member.key == "quotas") {
        given.quotas = &child;
    } else if (member.key == "verdict") {
        content.verdict = &child;
    } else {
        for (auto [name, dependent] : content.dependents()) {
            if (member.key == name) *dependent = KeyedValue{&child, member.key_position};
        }
    }
}

// Exactly one of quotas, "exempt": true and verdict (a misspelled one was reported already).
void check_policy_kind(LoadContext& context, const JsonValue& value, const Policy& policy, const PolicyKeys& given,
                       bool is_exempt) {
    const auto& seen = given.seen;
    const JsonValue* quotas = given.quotas;
    const JsonValue* verdict = given.content.verdict;
    if (is_exempt && quotas) {
        context.error(quotas->position,
                      "policy " + in_quotes(policy.name) + ": has both \"exempt\": true and \"quotas\" (expected one of them)");
    } else if (verdict && (is_exempt || quotas)) {
        context.error(verdict->position, "policy " + in_quotes(policy.name) + ": has \"verdict\" and " +
                                             (quotas ? "\"quotas\"" : "\"exempt\": true") +
                                             " (expected exactly one of quotas, exempt, verdict)");
    } else if (!is_exempt && !quotas && !verdict && !seen.count("?quotas") && !seen.count("?exempt") &&
               !seen.count("?verdict")) {
        context.error(value.position,
                      "policy " + in_quotes(policy.name) + ": expected \"quotas\", \"exempt\": true or \"verdict\"");
    }
}

// "Name: value", or "Name" alone (the value is then the policy name).
void load_tag_header(LoadContext& context, const JsonValue& value, Policy& policy) {
    if (!context.expect_kind(value, Kind::string, "tag_header")) return;
    const std::string& text = value.string;
    const std::size_t colon = text.find(':');
    const std::string name = text.substr(0, colon);
    std::string header_value = policy.name;
    if (colon != std::string::npos) {
        const std::size_t start = text.find_first_not_of(" \t", colon + 1);
        header_value = start == std::string::npos ? std::string() : text.substr(start);
    }
    if (!is_valid_header_name(name)) {
        context.error(value.position, "tag_header: expected \"Name: value\" or \"Name\" with a header name of 1 to 128 "
                                      "printable characters, no ':' or blank (e.g. \"X-Quota-Policy: bulk\")");
        return;
    }
    if (header_value.empty() || header_value.size() > kMaxReplyText || has_control_characters(header_value)) {
        context.error(value.position, "tag_header: the value must be 1 to 900 characters without CR, LF or other control characters");
        return;
    }
    policy.tag_header_name = name;
    policy.tag_header_value = header_value;
}

// Without a verdict, each of reply, code, xcode and tag_header is an error.
void check_content_keys_need_verdict(LoadContext& context, ContentRuleKeys& content) {
    for (auto [name, dependent] : content.dependents()) {
        if (!dependent->value) continue;
        context.error(dependent->key, "policy key \"" + std::string(name) +
                                          "\" needs a policy \"verdict\" (a content rule); for a quota, put it on the quota");
    }
}

// The reply of a content rule with a valid `verdict`: code, xcode, text, tag header.
void load_content_reply(LoadContext& context, const ContentRuleKeys& content, Verdict verdict, Policy& policy) {
    SmtpCodes codes;
    if (content.code.value) read_smtp_code(context, "code", *content.code.value, codes);
    if (content.xcode.value) read_smtp_code(context, "xcode", *content.xcode.value, codes);
    check_codes_agree(context, verdict, codes, "policy");
    const bool replies = verdict == Verdict::reject || verdict == Verdict::tempfail;
    if (content.reply.value) {
        if (!replies) {
            context.error(content.reply.key, "policy: \"reply\" makes no sense with verdict " + in_quotes(to_string(verdict)) +
                                                 " (the message is accepted; only tempfail and reject send a reply)");
        } else if (auto text = parse_reply_text(context, *content.reply.value, true)) {
            policy.reply.text = *text;
        }
    }
    if (replies) {
        policy.reply.code = codes.code;
        policy.reply.xcode = codes.xcode;
    }
    policy.tag_header_name = "X-Quota-Policy";
    policy.tag_header_value = policy.name;
    if (content.tag_header.value) {
        if (verdict != Verdict::tag) {
            context.error(content.tag_header.key, "policy: \"tag_header\" only goes with \"verdict\": \"tag\"");
        } else {
            load_tag_header(context, *content.tag_header.value, policy);
        }
    }
}

void load_content_rule(LoadContext& context, ContentRuleKeys& content, Policy& policy) {
    if (!content.verdict) {
        check_content_keys_need_verdict(context, content);
        return;
    }
    std::optional<Verdict> verdict;
    if (content.verdict->kind == Kind::string) verdict = parse_verdict(content.verdict->string);
    if (!verdict) {
        context.error(content.verdict->position, "verdict: expected \"reject\", \"tempfail\", \"quarantine\", \"discard\" or \"tag\"");
        return;
    }
    policy.verdict = verdict;
    load_content_reply(context, content, *verdict, policy);
}

bool load_policy(LoadContext& context, const JsonValue& value, Policy& policy, std::map<std::string, TextPosition>& names) {
    if (!context.expect_kind(value, Kind::object, "policy")) return false;
    const std::size_t errors_before = context.errors.size();
    PolicyKeys given;
    policy.mode = context.defaults.mode.value_or(Mode::enforce);
    for (const auto& [member, child] : value.members) {
        if (!context.accept_key(member, keys::policy, "policy", given.seen)) continue;
        load_policy_member(context, member, child, policy, names, given);
    }
    if (!given.seen.count("name") && !given.seen.count("?name")) context.error(value.position, "policy: missing key \"name\"");
    const bool is_exempt = given.exempt && given.exempt->boolean;
    check_policy_kind(context, value, policy, given, is_exempt);
    policy.exempt = is_exempt;
    if (given.quotas && !is_exempt) load_quotas(context, *given.quotas, policy);
    load_content_rule(context, given.content, policy);
    if (!policy.match) policy.match = std::make_shared<PolicyMatch>();
    return context.errors.size() == errors_before;
}

}  // namespace

void load_defaults(LoadContext& context, const JsonValue& value) {
    if (!context.expect_kind(value, Kind::object, "defaults")) return;
    Defaults& defaults = context.defaults;
    std::set<std::string> seen;
    for (const auto& [member, child] : value.members) {
        if (!context.accept_key(member, keys::defaults, "defaults", seen)) continue;
        if (member.key == "verdict") {
            defaults.verdict = parse_quota_verdict(context, child);
            defaults.verdict_position = child.position;
        } else if (member.key == "mode") {
            defaults.mode = parse_mode(context, child);
        } else if (member.key == "reply") {
            defaults.reply = parse_reply_text(context, child);
        } else if (member.key == "code" || member.key == "xcode") {
            read_smtp_code(context, member.key, child, defaults.codes);
        }
    }
    check_codes_agree(context, defaults.verdict.value_or(Verdict::tempfail), defaults.codes, "defaults");
}

void load_policies(LoadContext& context, const JsonValue& value) {
    if (!context.expect_kind(value, Kind::array, "policies")) return;
    auto& policies = context.rules.policies;
    std::map<std::string, TextPosition> names;
    for (const JsonValue& entry : value.items) {
        Policy policy;
        policy.file_order = policies.size();
        if (!load_policy(context, entry, policy, names)) continue;
        policies.push_back(std::move(policy));
    }
    std::stable_sort(policies.begin(), policies.end(), [](const Policy& a, const Policy& b) {
        return std::tie(a.priority, a.file_order) < std::tie(b.priority, b.file_order);
    });
}

}  // namespace quotamilter::rules::load_internal
