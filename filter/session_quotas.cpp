// Quotas in the filter core: the early checks at MAIL FROM and RCPT TO, the
// one atomic charge at end of message, monitor quotas, and what a store
// failure answers (filter/session.h).
#include "filter/counter_request.h"
#include "filter/reply.h"
#include "filter/session.h"

#include <fmt/format.h>

#include <algorithm>

namespace quotamilter::filter {

store::CounterId counter_id(const rules::ApplicableQuota& quota) {
    rules::CounterName name = rules::counter_name(*quota.policy, *quota.quota);
    return store::CounterId{std::move(name.policy), std::move(name.track), std::move(name.unit), name.window_seconds,
                            quota.tracked_value};
}

store::CounterRequest counter_request(const rules::ApplicableQuota& quota, std::uint64_t cost) {
    return store::CounterRequest{counter_id(quota), quota.quota->limit, cost};
}

namespace {

std::string impossible_answer(const store::Decision& decision, std::size_t asked) {
    return fmt::format("the store refused request {} of {} (an impossible answer)", decision.refused_index, asked);
}

}  // namespace

FilterAnswer Session::check_early(Message& message, std::vector<const rules::ApplicableQuota*> checks,
                                  rules::Stage stage, const rules::Address* recipient) {
    if (message.quotas_waived) return FilterAnswer::proceed();
    rules::drop_passed(checks, message.passed_checks);
    if (checks.empty()) return FilterAnswer::proceed();
    std::vector<store::CounterRequest> requests;
    requests.reserve(checks.size());
    for (const rules::ApplicableQuota* quota : checks)
        requests.push_back(counter_request(*quota, rules::early_check_cost(*quota)));

    const store::Decision decision = env_.store.check(requests);
    switch (decision.outcome) {
        case store::Outcome::admitted:
            env_.store_health.record_success();
            rules::remember_passed(message.passed_checks, checks);
            return FilterAnswer::proceed();
        case store::Outcome::refused:
            env_.store_health.record_success();
            if (decision.refused_index >= checks.size())
                return store_failed(message, impossible_answer(decision, checks.size()));
            return refuse(message, *checks[decision.refused_index], requests[decision.refused_index].cost, decision,
                          stage, recipient);
        case store::Outcome::store_error: break;
    }
    return store_failed(message, decision.error);
}

std::optional<FilterAnswer> Session::charge_quotas(Message& message, const rules::MessagePlan& plan) {
    if (message.quotas_waived) return std::nullopt;
    std::vector<const rules::ApplicableQuota*> enforced;
    std::vector<store::CounterRequest> requests;
    std::vector<const rules::ApplicableQuota*> monitored;
    for (const auto& quota : plan.quotas) {
        if (quota.cost == 0) continue;  // charging nothing changes nothing
        if (quota.policy->mode == rules::Mode::monitor) {
            monitored.push_back(&quota);
        } else {
            enforced.push_back(&quota);
            requests.push_back(counter_request(quota, quota.cost));
        }
    }
    if (!requests.empty()) {
        const store::Decision decision = env_.store.charge(requests);
        switch (decision.outcome) {
            case store::Outcome::admitted: env_.store_health.record_success(); break;
            case store::Outcome::refused:
                env_.store_health.record_success();
                if (decision.refused_index >= enforced.size()) {
                    FilterAnswer failed = store_failed(message, impossible_answer(decision, enforced.size()));
                    if (message.quotas_waived) return std::nullopt;
                    return failed;
                }
                return refuse(message, *enforced[decision.refused_index], requests[decision.refused_index].cost,
                              decision, rules::Stage::end_of_message, nullptr);
            case store::Outcome::store_error: {
                FilterAnswer failed = store_failed(message, decision.error);
                if (message.quotas_waived) return std::nullopt;
                return failed;
            }
        }
    }
    charge_monitor_quotas(message, std::move(monitored));
    env_.metrics().message_accepted();
    return std::nullopt;
}

void Session::charge_monitor_quotas(const Message& message, std::vector<const rules::ApplicableQuota*> quotas) {
    // Monitor quotas count what they would admit and log what they would
    // refuse; a full one is left out and the rest charged again (at most one
    // round per quota), so a monitor quota never refuses anything.
    const std::size_t rounds = quotas.size();
    for (std::size_t round = 0; round < rounds && !quotas.empty(); ++round) {
        std::vector<store::CounterRequest> requests;
        for (const auto* quota : quotas) requests.push_back(counter_request(*quota, quota->cost));
        const store::Decision decision = env_.store.charge(requests);
        if (decision.outcome == store::Outcome::admitted) {
            env_.store_health.record_success();
            return;
        }
        if (decision.outcome == store::Outcome::store_error || decision.refused_index >= quotas.size()) {
            const std::string error = decision.outcome == store::Outcome::store_error
                                          ? decision.error
                                          : impossible_answer(decision, quotas.size());
            env_.store_health.record_failure(error, "accept (monitor-mode quotas)");
            return;
        }
        env_.store_health.record_success();
        const auto* full = quotas[decision.refused_index];
        log_quota_event(message, *full, full->cost, decision, rules::Stage::end_of_message, nullptr,
                        fmt::format("would {}", rules::to_string(full->quota->verdict)));
        env_.metrics().refusal(full->policy->name, fmt::format("would_{}", rules::to_string(full->quota->verdict)));
        quotas.erase(quotas.begin() + static_cast<std::ptrdiff_t>(decision.refused_index));
    }
}

FilterAnswer Session::refuse(const Message& message, const rules::ApplicableQuota& quota, std::uint64_t cost,
                             const store::Decision& decision, rules::Stage stage, const rules::Address* recipient) {
    const rules::Quota& q = *quota.quota;
    ReplyValues values;
    values.policy = quota.policy->name;
    values.track = q.track_label();
    values.key = quota.tracked_value;
    values.unit = std::string(rules::to_string(q.unit));
    values.count = decision.count;
    values.limit = decision.limit ? decision.limit : q.limit;
    values.window = q.window;
    values.retry_after = decision.retry_after;

    log_quota_event(message, quota, cost, decision, stage, recipient, rules::to_string(q.verdict));
    env_.metrics().refusal(quota.policy->name, rules::to_string(q.verdict));

    const bool holds = q.verdict == rules::Verdict::quarantine;
    return verdict_answer(q.verdict, holds ? SmtpReply{} : make_reply(q.verdict, q.reply, values),
                          fmt::format("quota policy={} track={} key={} count={}/{}", values.policy, values.track,
                                      values.key, values.count, values.limit));
}

FilterAnswer Session::internal_error_answer() const {
    // Nothing can be trusted of the message any more: accept it whole, as the
    // adapter does for an exception in a stage that answers.
    if (env_.settings.on_store_error == OnStoreError::accept) return FilterAnswer::accept_message();
    return store_unavailable_answer();
}

FilterAnswer Session::store_failed(Message& message, const std::string& error) {
    const bool tempfail = env_.settings.on_store_error == OnStoreError::tempfail;
    env_.store_health.record_failure(error.empty() ? "unknown error" : error,
                                     tempfail ? "tempfail" : "accept (uncounted; content rules still apply)");
    env_.metrics().store_error_answer(tempfail ? "tempfail" : "accept");
    if (tempfail) return store_unavailable_answer();
    // Fail open for the quotas of this message only: let it through
    // uncounted, and stop asking the store about it.
    message.quotas_waived = true;
    return FilterAnswer::proceed();
}

}  // namespace quotamilter::filter
