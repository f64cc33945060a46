#include "rules/explain.h"

#include "rules/match.h"
#include "rules/replies.h"
#include "rules/stage_plan.h"
#include "rules/units.h"

#include <fmt/format.h>

namespace quotamilter::rules {
namespace {

std::string format_bytes(std::uint64_t bytes) {
    static constexpr struct { std::uint64_t factor; const char* suffix; } kUnits[] = {
        {1ULL << 40, "TiB"}, {1000ULL * 1000 * 1000 * 1000, "TB"}, {1ULL << 30, "GiB"}, {1000ULL * 1000 * 1000, "GB"},
        {1ULL << 20, "MiB"}, {1000ULL * 1000, "MB"}, {1ULL << 10, "KiB"}, {1000ULL, "KB"}};
    for (const auto& unit : kUnits) {
        if (bytes >= unit.factor && bytes % unit.factor == 0) return fmt::format("{}{}", bytes / unit.factor, unit.suffix);
    }
    return fmt::format("{} bytes", bytes);
}

std::string why_absent(const Quota& quota, const MessageFacts& facts) {
    switch (quota.track) {
        case Track::sender_domain: return "the sender has no domain";
        case Track::sasl_user: return "not authenticated (no --sasl)";
        case Track::client_ip:
        case Track::client_net: return "client address unknown (no --client)";
        case Track::recipient:
        case Track::recipient_domain:
            return facts.recipients.empty() ? "no recipients given (--rcpt)" : "no matched recipient has a value";
        case Track::header:
            return facts.headers_known ? "the message has no header " + quota.header_name + " (or it is empty)"
                                       : "headers not given (add --header 'Name: value')";
        default: return "no value";
    }
}

// "reject (550 5.7.1)", "quarantine": a verdict with the codes it answers.
std::string verdict_with_codes(Verdict verdict, const ReplySpec& reply) {
    if (verdict != Verdict::tempfail && verdict != Verdict::reject) return std::string(to_string(verdict));
    const ReplyCodes defaults = default_reply_codes(verdict);
    const bool code_ok = reply.code && code_fits_verdict(*reply.code, verdict);
    const bool xcode_ok = reply.xcode && xcode_fits_verdict(*reply.xcode, verdict);
    return fmt::format("{} ({} {})", to_string(verdict), code_ok ? *reply.code : std::string(defaults.code),
                       xcode_ok ? *reply.xcode : std::string(defaults.xcode));
}

std::string reply_summary(const Policy& policy, const Quota& quota) {
    std::string text = verdict_with_codes(quota.verdict, quota.reply);
    if (!refuses_before_data(policy, quota) && policy.mode == Mode::enforce) text += ", at end of message";
    return text;
}

std::string verdict_summary(const Policy& policy) {
    const Verdict verdict = *policy.verdict;
    std::string text;
    switch (verdict) {
        case Verdict::reject:
        case Verdict::tempfail:
            text = fmt::format("{}: refused at {}", verdict_with_codes(verdict, policy.reply),
                               stage_text(policy.verdict_stage));
            if (policy.verdict_stage == Stage::rcpt) text += " (each recipient that makes it match)";
            break;
        case Verdict::quarantine: text = "quarantine: accepted into the MTA's hold queue at end of message"; break;
        case Verdict::discard: text = "discard: accepted and dropped at end of message"; break;
        case Verdict::tag:
            text = fmt::format("tag: accepted, with the header \"{}: {}\" added", policy.tag_header_name,
                               policy.tag_header_value);
            break;
    }
    if (policy.mode == Mode::monitor) text += " (monitor: logged, never applied)";
    return text;
}

}  // namespace

std::string counter_identity(const Policy& policy, const Quota& quota) { return counter_name(policy, quota).str(); }

std::string describe_limit(const Quota& quota) {
    const std::string amount = quota.unit == Unit::bytes ? format_bytes(quota.limit)
                                                         : fmt::format("{} {}", quota.limit, to_string(quota.unit));
    return fmt::format("{} per {}", amount, format_duration(quota.window));
}

std::string explain_text(const RuleSet& rules, const ExplainInput& input) {
    const MessageFacts& facts = input.facts;
    const MessagePlan plan = plan_message(rules, facts);
    std::string out;
    auto line = [&out](const std::string& text) {
        out += text;
        out += '\n';
    };

    line(fmt::format("rules: {} ({} {})", rules.source, rules.policies.size(), rules.policies.size() == 1 ? "policy" : "policies"));
    if (!rules.description.empty()) line("  " + rules.description);
    std::string sender = facts.sender.str();
    if (!input.sender_as_given.empty() && input.sender_as_given != sender) sender += " (given as " + input.sender_as_given + ")";
    line("sender: " + sender);
    if (facts.recipients.empty()) {
        line("recipients: none given (policies with a recipient list cannot match; add --rcpt)");
    } else {
        for (std::size_t i = 0; i < facts.recipients.size(); ++i) {
            std::string text = facts.recipients[i].str();
            if (i < input.recipients_as_given.size() && input.recipients_as_given[i] != text) {
                text += " (given as " + input.recipients_as_given[i] + ")";
            }
            line("recipient: " + text);
        }
    }
    line("client: " + facts.client_ip.value_or("unknown (no --client)"));
    line("sasl user: " + (facts.sasl_user ? *facts.sasl_user : std::string("none (not authenticated)")));
    if (facts.size) line(fmt::format("size: {} bytes", facts.size));
    if (facts.headers_known) {
        for (const HeaderField& header : facts.headers) line("header: " + header.name + ": " + header.value);
        if (facts.headers.empty()) line("headers: none (the message has no headers)");
    } else if (rules.needs_headers()) {
        line("headers: none given (header conditions are decided at end of headers; add --header 'Name: value')");
    }
    line("");
    line("policies in evaluation order (priority, then file order):");

    std::size_t number = 0;
    for (const PolicyTrace& trace : plan.trace) {
        const Policy& policy = *trace.policy;
        ++number;
        std::string header = fmt::format("{}. {} (priority {}", number, policy.name, policy.priority);
        if (policy.exempt) header += ", exempt";
        if (policy.verdict) header += fmt::format(", verdict {}", to_string(*policy.verdict));
        if (policy.mode == Mode::monitor) header += ", mode monitor";
        header += ")";
        line(header);
        if (!policy.description.empty()) line("   description: " + policy.description);
        if (!trace.matched && trace.reason.rfind("not evaluated", 0) == 0) {
            line("   skipped: " + trace.reason.substr(std::string_view("not evaluated: ").size()));
            continue;
        }
        line(trace.matched ? "   MATCHED" : "   not matched");
        // one reason per line: "sender ... matched ...", "recipient ... is excluded by ..."
        for (std::size_t start = 0; start < trace.reason.size();) {
            std::size_t end = trace.reason.find("; ", start);
            if (end == std::string::npos) end = trace.reason.size();
            line("     - " + trace.reason.substr(start, end - start));
            start = end + 2;
        }
        if (!trace.matched) continue;
        if (policy.exempt) {
            if (plan.stopped_by == &policy) {
                line("   EXEMPT: evaluation stops here; no later policy applies to this message");
            } else {
                line("   EXEMPT for the recipients it matched; later policies still apply to the others");
            }
            continue;
        }
        if (policy.verdict) {
            line("   VERDICT " + verdict_summary(policy));
            if (policy.reply.text) line("      reply: " + *policy.reply.text);
            continue;
        }
        for (std::size_t q = 0; q < policy.quotas.size(); ++q) {
            const Quota& quota = policy.quotas[q];
            line(fmt::format("   quota {}: {}, track {}, verdict {}{}", q + 1, describe_limit(quota), quota.track_label(),
                             reply_summary(policy, quota), policy.mode == Mode::monitor ? " (monitor: logged, never refused)" : ""));
            if (!quota.description.empty()) line("      description: " + quota.description);
            if (quota.reply.text) line("      reply: " + *quota.reply.text);
            line("      counter: " + counter_identity(policy, quota));
            bool any = false;
            for (const ApplicableQuota& applicable : plan.quotas) {
                if (applicable.quota != &quota) continue;
                any = true;
                const bool size_unknown = quota.unit == Unit::bytes && facts.size == 0;
                line(fmt::format("      tracked key: {} (this message costs {}{})", applicable.tracked_value, applicable.cost,
                                 size_unknown ? "; give --size BYTES for a real size" : ""));
                if (input.store_key) line("      store key: " + input.store_key(applicable));
            }
            if (!any) line("      does not apply: " + why_absent(quota, facts));
        }
    }

    line("");
    if (plan.stopped_by) {
        line(fmt::format("result: {} is exempt through {}: no quota after it applies.", facts.sender.str(),
                         plan.stopped_by->name));
    }
    if (plan.quotas.empty()) {
        if (!plan.stopped_by) line("result: no quota applies to this message.");
    } else {
        const bool one = plan.quotas.size() == 1;
        line(fmt::format("result: {} {} {}:", plan.quotas.size(), one ? "quota" : "quotas",
                         plan.stopped_by ? (one ? "applies before the exemption" : "apply before the exemption")
                                         : (one ? "applies" : "apply")));
        for (const ApplicableQuota& applicable : plan.quotas) {
            line(fmt::format("  {} key {}: {}, cost {}, {}{}", counter_identity(*applicable.policy, *applicable.quota),
                             applicable.tracked_value, describe_limit(*applicable.quota), applicable.cost,
                             reply_summary(*applicable.policy, *applicable.quota),
                             applicable.policy->mode == Mode::monitor ? " (monitor)" : ""));
        }
    }

    if (!plan.verdicts.empty()) {
        if (const Policy* decider = deciding_verdict(plan)) {
            line(fmt::format("content rule: {} decides: {}", decider->name, verdict_summary(*decider)));
        }
        for (const MatchedVerdict& matched : plan.verdicts) {
            if (matched.policy == deciding_verdict(plan)) continue;
            const bool tag = matched.policy->verdict == Verdict::tag && matched.policy->mode == Mode::enforce;
            line(fmt::format("content rule: {} {}: {}", matched.policy->name, tag ? "tags the message" : "also matched",
                             verdict_summary(*matched.policy)));
        }
    }

    // What can refuse already at MAIL FROM (guarantee 5).
    MessageFacts at_mail = facts;
    at_mail.recipients.clear();
    at_mail.headers.clear();  // nor the headers, which come after DATA
    at_mail.headers_known = false;
    const MessagePlan early = plan_at_mail(rules, at_mail);
    const std::vector<const ApplicableQuota*> checks = early_checks(early);
    if (const Policy* verdict = verdict_acting_at(early, Stage::mail)) {
        line(fmt::format("at MAIL FROM: content rule {} refuses: {}", verdict->name, verdict_summary(*verdict)));
    } else if (checks.empty()) {
        line("at MAIL FROM: no quota can refuse before the recipients are known.");
    } else {
        line("at MAIL FROM (before any recipient) these can already refuse:");
        for (const ApplicableQuota* applicable : checks) {
            line(fmt::format("  {} key {}", counter_identity(*applicable->policy, *applicable->quota),
                             applicable->tracked_value));
        }
    }
    return out;
}

}  // namespace quotamilter::rules
