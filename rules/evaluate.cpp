// plan_message / plan_at_mail: which quotas apply, with tracked values and
// costs. Runs for every RCPT and end of message, so matching uses only the
// lists compiled at load time (rules/match.h).
#include "rules/evaluate.h"

#include "rules/header_text.h"
#include "rules/ip.h"
#include "rules/match.h"

#include <algorithm>

namespace quotamilter::rules {
namespace {

struct SessionFacts {
    std::optional<IpAddress> ip;
    std::optional<std::string> sasl_user;  // lower case, unset when empty
};

SessionFacts session_facts(const MessageFacts& facts) {
    SessionFacts session;
    if (facts.client_ip) session.ip = parse_ip(*facts.client_ip);
    if (facts.sasl_user && !facts.sasl_user->empty()) {
        std::string lower = *facts.sasl_user;
        for (char& c : lower) {
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        }
        session.sasl_user = std::move(lower);
    }
    return session;
}

void append_reason(std::string& reasons, const std::string& reason) {
    if (reason.empty()) return;
    if (!reasons.empty()) reasons += "; ";
    reasons += reason;
}

// Header conditions, after the envelope ones held: undecided while the
// headers are not known yet.
enum class HeaderOutcome { hold, fail, undecided };

HeaderOutcome header_conditions_hold(const PolicyMatch& match, const MessageFacts& facts, bool explain,
                                     std::string& reasons) {
    if (match.headers.empty()) return HeaderOutcome::hold;
    if (!facts.headers_known) {
        if (explain) append_reason(reasons, "header conditions: decided at end of headers (no headers known yet)");
        return HeaderOutcome::undecided;
    }
    for (const HeaderCondition& condition : match.headers) {
        HeaderConditionResult result = evaluate_header_condition(condition, facts.headers, explain);
        if (explain) append_reason(reasons, result.reason);
        if (!result.holds) return HeaderOutcome::fail;
    }
    return HeaderOutcome::hold;
}

std::string undecided_reason(const Policy& undecided) {
    return "not evaluated: exempt policy " + undecided.name + " depends on headers (decided at end of headers)";
}

// The conditions that do not depend on recipients. Returns false (and the
// reason) when one fails.
bool message_conditions_hold(const PolicyMatch& match, const MessageFacts& facts, const SessionFacts& session,
                             bool explain, std::string& reasons) {
    if (match.sender.present) {
        ListMatch result = match_address_list(match.sender, facts.sender, explain);
        if (explain) append_reason(reasons, "sender " + result.reason);
        if (!result.matched) return false;
    }
    if (match.client.present) {
        ListMatch result = match_ip_list(match.client, session.ip, explain);
        append_reason(reasons, result.reason);
        if (!result.matched) return false;
    }
    if (match.sasl.present) {
        ListMatch result = match_sasl_list(match.sasl, session.sasl_user, explain);
        append_reason(reasons, result.reason);
        if (!result.matched) return false;
    }
    return true;
}

// The sender, client, sasl and header conditions of `policy`. When they do
// not all hold, files the trace (and, for an exempt policy whose headers are
// not known yet, the point from which nothing is decided early) and returns false.
bool policy_conditions_hold(const Policy& policy, const MessageFacts& facts, const SessionFacts& session,
                            bool explain, PolicyTrace& trace, MessagePlan& plan) {
    const PolicyMatch& match = *policy.match;
    if (message_conditions_hold(match, facts, session, explain, trace.reason)) {
        const HeaderOutcome headers = header_conditions_hold(match, facts, explain, trace.reason);
        if (headers == HeaderOutcome::hold) return true;
        if (headers == HeaderOutcome::undecided && policy.exempt) plan.undecided_from = &policy;
    }
    plan.trace.push_back(std::move(trace));
    return false;
}

// Appends the ApplicableQuota entries of one quota. `recipients` are the
// indices of the recipients this policy applies to.
void add_quota(MessagePlan& plan, const Policy& policy, const Quota& quota, const MessageFacts& facts,
               const SessionFacts& session, const std::vector<std::size_t>& recipients) {
    auto cost_for = [&](std::uint64_t recipient_count) -> std::uint64_t {
        switch (quota.unit) {
            case Unit::messages: return 1;
            case Unit::recipients: return recipient_count;
            case Unit::bytes: return facts.size;
        }
        return 0;
    };
    auto add = [&](std::string value, std::uint64_t recipient_count) {
        plan.quotas.push_back(ApplicableQuota{&policy, &quota, std::move(value), cost_for(recipient_count)});
    };
    switch (quota.track) {
        case Track::sender:
            add(facts.sender.str(), recipients.size());
            return;
        case Track::sender_domain:
            if (!facts.sender.null_sender && !facts.sender.domain.empty()) add(facts.sender.domain, recipients.size());
            return;
        case Track::sasl_user:
            if (session.sasl_user) add(*session.sasl_user, recipients.size());
            return;
        case Track::client_ip:
            if (session.ip) add(session.ip->str(), recipients.size());
            return;
        case Track::client_net:
            if (session.ip) {
                const int prefix = session.ip->v6 ? quota.prefix_v6 : quota.prefix_v4;
                add(IpNetwork{session.ip->masked(prefix), prefix}.str(), recipients.size());
            }
            return;
        case Track::policy:
            add(policy.name, recipients.size());
            return;
        case Track::recipient:
        case Track::recipient_domain: {
            // One entry per distinct value, in order of first appearance.
            std::vector<std::pair<std::string, std::uint64_t>> values;
            for (std::size_t index : recipients) {
                const Address& recipient = facts.recipients[index];
                std::string value = quota.track == Track::recipient ? recipient.str() : recipient.domain;
                if (value.empty() || recipient.null_sender) continue;
                auto found = std::find_if(values.begin(), values.end(), [&](const auto& entry) { return entry.first == value; });
                if (found == values.end()) values.emplace_back(std::move(value), 1);
                else ++found->second;
            }
            for (auto& [value, count] : values) add(std::move(value), count);
            return;
        }
        case Track::header: {
            // The first header of that name counts (absent, or not known yet: the quota does not apply).
            if (!facts.headers_known) return;
            for (const HeaderField& header : facts.headers) {
                if (header.name != quota.header_name) continue;
                std::string value = header_tracked_value(header.value);
                if (!value.empty()) add(std::move(value), recipients.size());
                return;
            }
            return;
        }
    }
}

std::string not_evaluated_reason(const Policy& stopper) {
    return "not evaluated: exempt policy " + stopper.name + " stopped evaluation before it";
}

}  // namespace

const Policy* deciding_verdict(const MessagePlan& plan) {
    for (const MatchedVerdict& matched : plan.verdicts) {
        const Policy& policy = *matched.policy;
        if (policy.mode == Mode::enforce && policy.verdict && *policy.verdict != Verdict::tag) return &policy;
    }
    return nullptr;
}

MessagePlan plan_message(const RuleSet& rules, const MessageFacts& facts) {
    return plan_message(rules, facts, PlanOptions{});
}

MessagePlan plan_at_mail(const RuleSet& rules, const MessageFacts& facts) {
    return plan_at_mail(rules, facts, PlanOptions{});
}

MessagePlan plan_message(const RuleSet& rules, const MessageFacts& facts, PlanOptions options) {
    const bool explain = options.with_reasons;
    MessagePlan plan;
    plan.trace.reserve(rules.policies.size());
    const SessionFacts session = session_facts(facts);
    const std::size_t recipient_count = facts.recipients.size();
    std::vector<char> exempted(recipient_count, 0);          // per recipient: an exempt policy matched it
    std::vector<const Policy*> exempted_by(recipient_count, nullptr);
    std::size_t remaining = recipient_count;
    std::vector<std::size_t> applies_to;

    for (const Policy& policy : rules.policies) {
        PolicyTrace trace{&policy, false, {}};
        if (plan.stopped_by || plan.undecided_from) {
            if (explain)
                trace.reason = plan.stopped_by ? not_evaluated_reason(*plan.stopped_by) : undecided_reason(*plan.undecided_from);
            plan.trace.push_back(std::move(trace));
            continue;
        }
        const PolicyMatch& match = *policy.match;
        if (!policy_conditions_hold(policy, facts, session, explain, trace, plan)) continue;

        applies_to.clear();
        if (match.recipient.present) {
            std::string recipient_reasons;
            for (std::size_t i = 0; i < recipient_count; ++i) {
                if (exempted[i]) {
                    if (explain) {
                        append_reason(recipient_reasons, "recipient " + facts.recipients[i].str() + " already exempted by " +
                                                             exempted_by[i]->name);
                    }
                    continue;
                }
                ListMatch result = match_address_list(match.recipient, facts.recipients[i], explain);
                if (result.matched) applies_to.push_back(i);
                if (explain) {
                    append_reason(recipient_reasons,
                                  "recipient " + result.reason + (result.matched ? "" : " (the policy does not apply to it)"));
                }
            }
            if (!explain) {
                // no reasons wanted
            } else if (recipient_count == 0) {
                append_reason(trace.reason, "no recipient yet: recipient " + match.recipient.text + " is decided at RCPT TO");
            } else {
                append_reason(trace.reason, recipient_reasons);
            }
            if (applies_to.empty()) {
                plan.trace.push_back(std::move(trace));
                continue;
            }
        } else {
            for (std::size_t i = 0; i < recipient_count; ++i) {
                if (!exempted[i]) applies_to.push_back(i);
            }
        }
        if (explain && trace.reason.empty()) trace.reason = "no conditions: matches every message";
        trace.matched = true;

        if (policy.exempt) {
            for (std::size_t index : applies_to) {
                exempted[index] = 1;
                exempted_by[index] = &policy;
                --remaining;
            }
            // Without a recipient list the exemption covers the whole message.
            if (!match.recipient.present || remaining == 0) plan.stopped_by = &policy;
        } else if (policy.verdict) {
            plan.verdicts.push_back(MatchedVerdict{&policy});
        } else {
            for (const Quota& quota : policy.quotas) add_quota(plan, policy, quota, facts, session, applies_to);
        }
        plan.trace.push_back(std::move(trace));
    }
    return plan;
}

MessagePlan plan_at_mail(const RuleSet& rules, const MessageFacts& facts, PlanOptions options) {
    const bool explain = options.with_reasons;
    MessagePlan plan;
    plan.trace.reserve(rules.policies.size());
    const SessionFacts session = session_facts(facts);
    const Policy* recipient_exempt = nullptr;  // an exempt policy that may still exempt recipients
    const std::vector<std::size_t> no_recipients;

    for (const Policy& policy : rules.policies) {
        PolicyTrace trace{&policy, false, {}};
        if (plan.stopped_by) {
            if (explain) trace.reason = not_evaluated_reason(*plan.stopped_by);
            plan.trace.push_back(std::move(trace));
            continue;
        }
        if (recipient_exempt) {
            if (explain) trace.reason = "not checked at MAIL FROM: exempt policy " + recipient_exempt->name +
                           " may exempt recipients (decided at RCPT TO)";
            plan.trace.push_back(std::move(trace));
            continue;
        }
        if (plan.undecided_from) {
            if (explain) trace.reason = undecided_reason(*plan.undecided_from);
            plan.trace.push_back(std::move(trace));
            continue;
        }
        const PolicyMatch& match = *policy.match;
        if (!policy_conditions_hold(policy, facts, session, explain, trace, plan)) continue;
        if (match.recipient.present) {
            if (explain) append_reason(trace.reason, "depends on recipients " + match.recipient.text + ": decided at RCPT TO");
            if (policy.exempt) recipient_exempt = &policy;
            plan.trace.push_back(std::move(trace));
            continue;
        }
        if (explain && trace.reason.empty()) trace.reason = "no conditions: matches every message";
        trace.matched = true;
        if (policy.exempt) {
            plan.stopped_by = &policy;
        } else if (policy.verdict) {
            plan.verdicts.push_back(MatchedVerdict{&policy});
        } else {
            for (const Quota& quota : policy.quotas) {
                // Only what is known before any RCPT: no recipient counts, no recipient keys.
                if (quota.unit == Unit::recipients || quota.track == Track::recipient ||
                    quota.track == Track::recipient_domain) {
                    continue;
                }
                add_quota(plan, policy, quota, facts, session, no_recipients);
            }
        }
        plan.trace.push_back(std::move(trace));
    }
    return plan;
}

}  // namespace quotamilter::rules
