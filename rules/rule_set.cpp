#include "rules/rule_set.h"

#include "rules/match.h"

#include <algorithm>

namespace quotamilter::rules {

std::string_view to_string(Track track) {
    switch (track) {
        case Track::sender: return "sender";
        case Track::sender_domain: return "sender_domain";
        case Track::sasl_user: return "sasl_user";
        case Track::client_ip: return "client_ip";
        case Track::client_net: return "client_net";
        case Track::recipient: return "recipient";
        case Track::recipient_domain: return "recipient_domain";
        case Track::policy: return "policy";
        case Track::header: return "header";
    }
    return "unknown";
}

std::string_view to_string(Unit unit) {
    switch (unit) {
        case Unit::messages: return "messages";
        case Unit::recipients: return "recipients";
        case Unit::bytes: return "bytes";
    }
    return "unknown";
}

std::string_view to_string(Verdict verdict) {
    switch (verdict) {
        case Verdict::tempfail: return "tempfail";
        case Verdict::reject: return "reject";
        case Verdict::quarantine: return "quarantine";
        case Verdict::discard: return "discard";
        case Verdict::tag: return "tag";
    }
    return "unknown";
}

std::string_view to_string(Mode mode) {
    return mode == Mode::monitor ? "monitor" : "enforce";
}

std::string Quota::track_label() const {
    if (track == Track::header) return "header:" + header_name;
    return std::string(to_string(track));
}

CounterName counter_name(const Policy& policy, const Quota& quota) {
    return CounterName{policy.name, quota.track_label(), std::string(to_string(quota.unit)),
                       static_cast<std::uint32_t>(quota.window.count())};
}

std::string CounterName::str() const {
    return policy + "/" + track + "/" + unit + "/" + std::to_string(window_seconds) + "s";
}

bool RuleSet::needs_body() const {
    return std::any_of(policies.begin(), policies.end(), [](const Policy& policy) {
        return std::any_of(policy.quotas.begin(), policy.quotas.end(),
                           [](const Quota& quota) { return quota.unit == Unit::bytes; });
    });
}

bool RuleSet::needs_headers() const {
    return std::any_of(policies.begin(), policies.end(), [](const Policy& policy) {
        return (policy.match && !policy.match->headers.empty()) ||
               std::any_of(policy.quotas.begin(), policy.quotas.end(),
                           [](const Quota& quota) { return quota.track == Track::header; });
    });
}

bool RuleSet::needs_tagging() const {
    return std::any_of(policies.begin(), policies.end(),
                       [](const Policy& policy) { return policy.verdict == Verdict::tag; });
}

std::vector<std::string> RuleSet::header_names() const {
    std::vector<std::string> names;
    auto add = [&names](const std::string& name) {
        if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    };
    for (const Policy& policy : policies) {
        if (policy.match)
            for (const HeaderCondition& condition : policy.match->headers) add(condition.name);
        for (const Quota& quota : policy.quotas)
            if (quota.track == Track::header) add(quota.header_name);
    }
    return names;
}

}  // namespace quotamilter::rules
