#include "rules/explain.h"

#include "rules/match.h"
#include "rules/replies.h"
#include "rules/stage_plan.h"
#include "rules/stage_walk.h"
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

namespace {

// Appends lines to the text of explain.
class Lines {
public:
    void add(const std::string& text) {
        out_ += text;
        out_ += '\n';
    }
    std::string take() { return std::move(out_); }

private:
    std::string out_;
};

void envelope_section(const RuleSet& rules, const ExplainInput& input, Lines& out) {
    const MessageFacts& facts = input.facts;
    out.add(fmt::format("rules: {} ({} {})", rules.source, rules.policies.size(),
                        rules.policies.size() == 1 ? "policy" : "policies"));
    if (!rules.description.empty()) out.add("  " + rules.description);
    std::string sender = facts.sender.str();
    if (!input.sender_as_given.empty() && input.sender_as_given != sender) sender += " (given as " + input.sender_as_given + ")";
    out.add("sender: " + sender);
    if (facts.recipients.empty()) out.add("recipients: none given (policies with a recipient list cannot match; add --rcpt)");
    for (std::size_t i = 0; i < facts.recipients.size(); ++i) {
        std::string text = facts.recipients[i].str();
        if (i < input.recipients_as_given.size() && input.recipients_as_given[i] != text)
            text += " (given as " + input.recipients_as_given[i] + ")";
        out.add("recipient: " + text);
    }
    out.add("client: " + facts.client_ip.value_or("unknown (no --client)"));
    out.add("sasl user: " + (facts.sasl_user ? *facts.sasl_user : std::string("none (not authenticated)")));
    if (facts.size) out.add(fmt::format("size: {} bytes", facts.size));
    if (facts.headers_known) {
        for (const HeaderField& header : facts.headers) out.add("header: " + header.name + ": " + header.value);
        if (facts.headers.empty()) out.add("headers: none (the message has no headers)");
    } else if (rules.needs_headers()) {
        out.add("headers: none given (header conditions are decided at end of headers; add --header 'Name: value')");
    }
}

void quota_lines(const Policy& policy, const MessagePlan& plan, const ExplainInput& input, Lines& out) {
    for (std::size_t q = 0; q < policy.quotas.size(); ++q) {
        const Quota& quota = policy.quotas[q];
        out.add(fmt::format("   quota {}: {}, track {}, verdict {}{}", q + 1, describe_limit(quota), quota.track_label(),
                            reply_summary(policy, quota),
                            policy.mode == Mode::monitor ? " (monitor: logged, never refused)" : ""));
        if (!quota.description.empty()) out.add("      description: " + quota.description);
        if (quota.reply.text) out.add("      reply: " + *quota.reply.text);
        out.add("      counter: " + counter_identity(policy, quota));
        bool any = false;
        for (const ApplicableQuota& applicable : plan.quotas) {
            if (applicable.quota != &quota) continue;
            any = true;
            const bool size_unknown = quota.unit == Unit::bytes && input.facts.size == 0;
            out.add(fmt::format("      tracked key: {} (this message costs {}{})", applicable.tracked_value,
                                applicable.cost, size_unknown ? "; give --size BYTES for a real size" : ""));
            if (input.store_key) out.add("      store key: " + input.store_key(applicable));
        }
        if (!any) out.add("      does not apply: " + why_absent(quota, input.facts));
    }
}

void policy_lines(std::size_t number, const PolicyTrace& trace, const MessagePlan& plan, const ExplainInput& input,
                  Lines& out) {
    const Policy& policy = *trace.policy;
    std::string header = fmt::format("{}. {} (priority {}", number, policy.name, policy.priority);
    if (policy.exempt) header += ", exempt";
    if (policy.verdict) header += fmt::format(", verdict {}", to_string(*policy.verdict));
    if (policy.mode == Mode::monitor) header += ", mode monitor";
    out.add(header + ")");
    if (!policy.description.empty()) out.add("   description: " + policy.description);
    if (!trace.matched && trace.reason.rfind("not evaluated", 0) == 0) {
        out.add("   skipped: " + trace.reason.substr(std::string_view("not evaluated: ").size()));
        return;
    }
    out.add(trace.matched ? "   MATCHED" : "   not matched");
    // one reason per line: "sender ... matched ...", "recipient ... is excluded by ..."
    for (std::size_t start = 0; start < trace.reason.size();) {
        std::size_t end = trace.reason.find("; ", start);
        if (end == std::string::npos) end = trace.reason.size();
        out.add("     - " + trace.reason.substr(start, end - start));
        start = end + 2;
    }
    if (!trace.matched) return;
    if (policy.exempt) {
        out.add(plan.stopped_by == &policy ? "   EXEMPT: evaluation stops here; no later policy applies to this message"
                                           : "   EXEMPT for the recipients it matched; later policies still apply to the others");
        return;
    }
    if (policy.verdict) {
        out.add("   VERDICT " + verdict_summary(policy));
        if (policy.reply.text) out.add("      reply: " + *policy.reply.text);
        return;
    }
    quota_lines(policy, plan, input, out);
}

void result_section(const MessagePlan& plan, const MessageFacts& facts, Lines& out) {
    if (plan.stopped_by)
        out.add(fmt::format("result: {} is exempt through {}: no quota after it applies.", facts.sender.str(),
                            plan.stopped_by->name));
    if (plan.quotas.empty()) {
        if (!plan.stopped_by) out.add("result: no quota applies to this message.");
    } else {
        const bool one = plan.quotas.size() == 1;
        out.add(fmt::format("result: {} {} {}:", plan.quotas.size(), one ? "quota" : "quotas",
                            plan.stopped_by ? (one ? "applies before the exemption" : "apply before the exemption")
                                            : (one ? "applies" : "apply")));
        for (const ApplicableQuota& applicable : plan.quotas) {
            out.add(fmt::format("  {} key {}: {}, cost {}, {}{}", counter_identity(*applicable.policy, *applicable.quota),
                                applicable.tracked_value, describe_limit(*applicable.quota), applicable.cost,
                                reply_summary(*applicable.policy, *applicable.quota),
                                applicable.policy->mode == Mode::monitor ? " (monitor)" : ""));
        }
    }
    const Policy* decider = deciding_verdict(plan);
    if (decider) out.add(fmt::format("content rule: {} decides: {}", decider->name, verdict_summary(*decider)));
    for (const MatchedVerdict& matched : plan.verdicts) {
        if (matched.policy == decider) continue;
        const bool tag = matched.policy->verdict == Verdict::tag && matched.policy->mode == Mode::enforce;
        out.add(fmt::format("content rule: {} {}: {}", matched.policy->name, tag ? "tags the message" : "also matched",
                            verdict_summary(*matched.policy)));
    }
}

}  // namespace

std::string stage_step_text(const StageStep& step, const MessageFacts& facts) {
    std::string where(stage_text(step.stage));
    if (step.recipient && *step.recipient < facts.recipients.size())
        where += " " + facts.recipients[*step.recipient].str();
    const Policy& policy = *step.policy;
    auto counter = [&] {
        return fmt::format("{} key {} (cost {})", counter_identity(policy, *step.quota), step.tracked_value, step.cost);
    };
    switch (step.kind) {
        case StageStep::Kind::content:
            return fmt::format("{}: content rule {} acts{}: {}", where, policy.name,
                               step.stage == Stage::rcpt ? " on this recipient" : "", verdict_summary(policy));
        case StageStep::Kind::check:
            return fmt::format("{}: asks the store about {}: {} when full", where, counter(),
                               verdict_with_codes(step.quota->verdict, step.quota->reply));
        case StageStep::Kind::charge:
            return fmt::format("{}: charges {} with the message's other quotas, all or none: {} when full", where,
                               counter(), verdict_with_codes(step.quota->verdict, step.quota->reply));
        case StageStep::Kind::monitor:
            if (!step.quota)
                return fmt::format("{}: content rule {} (monitor): logs \"would {}\", refuses nothing", where,
                                   policy.name, to_string(*policy.verdict));
            return fmt::format("{}: counts {} (monitor: logs \"would {}\" when full, refuses nothing)", where, counter(),
                               to_string(step.quota->verdict));
        case StageStep::Kind::tag:
            return fmt::format("{}: content rule {} adds \"{}: {}\"", where, policy.name, policy.tag_header_name,
                               policy.tag_header_value);
    }
    return where;
}

std::string explain_text(const RuleSet& rules, const ExplainInput& input) {
    const MessageFacts& facts = input.facts;
    const MessagePlan plan = plan_message(rules, facts);
    Lines out;
    envelope_section(rules, input, out);
    out.add("");
    out.add("policies in evaluation order (priority, then file order):");
    std::size_t number = 0;
    for (const PolicyTrace& trace : plan.trace) policy_lines(++number, trace, plan, input, out);
    out.add("");
    result_section(plan, facts, out);

    // The milter's answers stage by stage, from the same rules::decide_at it asks.
    out.add("");
    out.add("stage by stage (what the milter asks and does; \"when full\": when that counter has no room left):");
    const std::vector<StageStep> steps = stage_steps(rules, facts);
    if (steps.empty()) out.add("  nothing to ask or do: every stage continues");
    for (const StageStep& step : steps) out.add("  " + stage_step_text(step, facts));
    if (facts.recipients.empty()) out.add("  (no --rcpt: a message without a recipient never reaches DATA)");
    else if (!facts.headers_known && rules.needs_headers())
        out.add("  (end of headers not shown: give the headers with --header)");
    return out.take();
}

}  // namespace quotamilter::rules
