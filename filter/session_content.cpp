// Content rules in the filter core: a policy with a `verdict` acts at the
// stage the rules' stage plan gives it (rules/stage_plan.h). The quotas of
// header policies are charged with every other quota in the one store.charge
// at end of message.
#include "filter/reply.h"
#include "filter/session.h"

#include <fmt/format.h>

namespace quotamilter::filter {

rules::MessageFacts Session::facts_with_headers(const Message& message) const {
    rules::MessageFacts facts = message.facts;
    // Headers that were never sent (not negotiated: the rules changed since
    // this connection began) stay unknown, never "absent". Without an
    // end-of-headers callback they are complete at end of message.
    if (message.headers && stages_.headers && (message.saw_end_of_headers || !stages_.end_of_headers)) {
        facts.headers = message.headers->headers();
        facts.headers_known = true;
    }
    return facts;
}

void Session::log_monitor_verdicts(const Message& message, const rules::MessagePlan& plan) {
    // "would ..." once per message, at its end.
    for (const rules::MatchedVerdict& matched : plan.verdicts) {
        const rules::Policy& policy = *matched.policy;
        if (policy.mode != rules::Mode::monitor) continue;
        log_content_verdict(message, policy, fmt::format("would {}", rules::to_string(*policy.verdict)),
                            rules::Stage::end_of_message, nullptr);
        env_.metrics().refusal(policy.name, fmt::format("would_{}", rules::to_string(*policy.verdict)));
    }
}

FilterAnswer Session::content_answer(const Message& message, const rules::Policy& policy, rules::Stage stage,
                                     const rules::Address* recipient) {
    const rules::Verdict verdict = *policy.verdict;
    log_content_verdict(message, policy, rules::to_string(verdict), stage, recipient);
    env_.metrics().refusal(policy.name, rules::to_string(verdict));
    ReplyValues values;
    values.policy = policy.name;
    const bool refuses = verdict == rules::Verdict::reject || verdict == rules::Verdict::tempfail;
    return verdict_answer(verdict, refuses ? make_reply(verdict, policy.reply, values, false) : SmtpReply{},
                          fmt::format("content rule policy={}", policy.name));
}

void Session::add_tag_headers(const rules::MessagePlan& plan, FilterAnswer& answer) {
    for (const rules::MatchedVerdict& matched : plan.verdicts) {
        const rules::Policy& policy = *matched.policy;
        if (policy.mode != rules::Mode::enforce || policy.verdict != rules::Verdict::tag) continue;
        answer.add_headers.emplace_back(policy.tag_header_name, policy.tag_header_value);
    }
}

}  // namespace quotamilter::filter
