// The session's log lines, greppable beside Postfix's own:
//   QUEUEID: reject: policy=user1_ratelimit track=sender key=<user1@hudedu.net> count=50/50 window=1800s
//     from=<user1@hudedu.net> to=<bob@example.com> client=192.0.2.7 stage=MAIL cost=1 retry_after=28m41s
//   QUEUEID: quarantine: policy=forged_from content-rule from=<...> client=... stage=END-OF-MESSAGE
// Values from the envelope are the normalised addresses or the sender as
// sent with control characters replaced: a hostile envelope cannot forge a line.
#include "filter/reply.h"
#include "filter/session.h"

#include <fmt/format.h>

namespace quotamilter::filter {

std::string Session::log_envelope(const Message& message, const rules::Address* recipient, rules::Stage stage) const {
    std::string text = fmt::format(" from=<{}>", message.logged_sender);
    if (recipient) {
        text += fmt::format(" to=<{}>", recipient->str());
    } else if (!message.facts.recipients.empty()) {
        text += fmt::format(" to=<{}>", message.facts.recipients.front().str());
        if (message.facts.recipients.size() > 1) text += fmt::format(" nrcpt={}", message.facts.recipients.size());
    }
    text += fmt::format(" client={}", client_ip_.value_or("unknown"));
    if (message.facts.sasl_user) text += fmt::format(" sasl_username={}", *message.facts.sasl_user);
    text += fmt::format(" stage={}", rules::stage_log_name(stage));
    return text;
}

void Session::log_quota_event(const Message& message, const rules::ApplicableQuota& quota, std::uint64_t cost,
                              const store::Decision& decision, rules::Stage stage, const rules::Address* recipient,
                              std::string_view word) const {
    const rules::Quota& q = *quota.quota;
    std::string line = fmt::format("{}: {}: policy={} track={} key=<{}> count={}/{} window={}s",
                                   message.queue_id.empty() ? "NOQUEUE" : message.queue_id, word, quota.policy->name,
                                   q.track_label(), quota.tracked_value, decision.count,
                                   decision.limit ? decision.limit : q.limit, q.window.count());
    line += log_envelope(message, recipient, stage);
    line += fmt::format(" cost={}", cost);
    if (decision.retry_after) line += fmt::format(" retry_after={}", format_retry_after(decision.retry_after));
    env_.logger.info(line);
}

void Session::log_content_verdict(const Message& message, const rules::Policy& policy, std::string_view word,
                                  rules::Stage stage, const rules::Address* recipient) const {
    std::string line = fmt::format("{}: {}: policy={} content-rule",
                                   message.queue_id.empty() ? "NOQUEUE" : message.queue_id, word, policy.name);
    line += log_envelope(message, recipient, stage);
    if (message.headers && message.headers->truncated()) line += " headers=truncated";
    env_.logger.info(line);
}

}  // namespace quotamilter::filter
