// Content rules in the filter core: a policy with a `verdict` and header
// conditions is decided at end of headers (SMTP mail) or end of message
// (non-SMTP mail, quarantine, tag). The quotas of header policies are charged
// with every other quota in the one store.charge at end of message.
#include "filter/reply.h"
#include "filter/session.h"

#include <fmt/format.h>

namespace quotamilter::filter {

rules::MessageFacts Session::facts_with_headers(const Message& message) const {
    rules::MessageFacts facts = message.facts;
    // Headers that were never sent (not negotiated: the rules changed since
    // this connection began) stay unknown, never "absent".
    if (message.headers && message.saw_end_of_headers) {
        facts.headers = message.headers->headers();
        facts.headers_known = true;
    }
    return facts;
}

void Session::log_content_verdict(const Message& message, const rules::Policy& policy, std::string_view verdict_word,
                                  Stage stage) {
    std::string line = fmt::format("{}: {}: policy={} content-rule from=<{}>",
                                   message.queue_id.empty() ? "NOQUEUE" : message.queue_id, verdict_word, policy.name,
                                   message.logged_sender);
    if (!message.facts.recipients.empty()) {
        line += fmt::format(" to=<{}>", message.facts.recipients.front().str());
        if (message.facts.recipients.size() > 1) line += fmt::format(" nrcpt={}", message.facts.recipients.size());
    }
    line += fmt::format(" client={}", client_ip_.value_or("unknown"));
    if (message.facts.sasl_user) line += fmt::format(" sasl_username={}", *message.facts.sasl_user);
    line += fmt::format(" stage={}", stage == Stage::eoh ? "END-OF-HEADERS" : "END-OF-MESSAGE");
    if (message.headers && message.headers->truncated()) line += " headers=truncated";
    env_.logger.info(line);
}

std::optional<FilterAnswer> Session::content_verdict(const Message& message, const rules::MessagePlan& plan,
                                                     Stage stage) {
    const rules::Policy* decider = rules::deciding_verdict(plan);
    if (stage == Stage::eom) {
        // "would ..." once per message, at its end.
        for (const rules::MatchedVerdict& matched : plan.verdicts) {
            const rules::Policy& policy = *matched.policy;
            if (policy.mode != rules::Mode::monitor) continue;
            const std::string word = fmt::format("would {}", rules::to_string(*policy.verdict));
            log_content_verdict(message, policy, word, stage);
            env_.metrics().refusal(policy.name, fmt::format("would_{}", rules::to_string(*policy.verdict)));
        }
    }
    if (!decider) return std::nullopt;
    const rules::Verdict verdict = *decider->verdict;
    // Quarantine acts only at end of message (smfi_quarantine is an EOM action).
    if (stage == Stage::eoh && verdict == rules::Verdict::quarantine) return std::nullopt;

    log_content_verdict(message, *decider, rules::to_string(verdict), stage);
    env_.metrics().refusal(decider->name, rules::to_string(verdict));
    FilterAnswer answer;
    switch (verdict) {
        case rules::Verdict::reject:
        case rules::Verdict::tempfail: {
            ReplyValues values;
            values.policy = decider->name;
            rules::ReplySpec spec = decider->reply;
            // The quota fallback text speaks of limits; a content rule has none.
            if (!spec.text) spec.text = verdict == rules::Verdict::reject ? "Message refused by policy {policy}"
                                                                         : "Message deferred by policy {policy}, try again later";
            SmtpReply reply = make_reply(verdict, spec, values);
            answer.action = verdict == rules::Verdict::reject ? FilterAnswer::Action::reject
                                                              : FilterAnswer::Action::tempfail;
            answer.rcode = std::move(reply.rcode);
            answer.xcode = std::move(reply.xcode);
            answer.text = std::move(reply.text);
            break;
        }
        case rules::Verdict::quarantine:
            answer.action = FilterAnswer::Action::quarantine;
            answer.quarantine_reason = sanitize_reply_text(fmt::format("content rule policy={}", decider->name));
            break;
        case rules::Verdict::discard: answer.action = FilterAnswer::Action::discard; break;
        case rules::Verdict::tag: return std::nullopt;  // never decides (deciding_verdict)
    }
    return answer;
}

void Session::add_tag_headers(const rules::MessagePlan& plan, FilterAnswer& answer) {
    for (const rules::MatchedVerdict& matched : plan.verdicts) {
        const rules::Policy& policy = *matched.policy;
        if (policy.mode != rules::Mode::enforce || policy.verdict != rules::Verdict::tag) continue;
        answer.add_headers.emplace_back(policy.tag_header_name, policy.tag_header_value);
    }
}

}  // namespace quotamilter::filter
