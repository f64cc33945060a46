#include "filter/session.h"

#include "filter/reply.h"
#include "rules/address.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <limits>

namespace quotamilter::filter {

std::string_view to_string(FilterAnswer::Action action) {
    switch (action) {
        case FilterAnswer::Action::continue_: return "continue";
        case FilterAnswer::Action::accept: return "accept";
        case FilterAnswer::Action::reject: return "reject";
        case FilterAnswer::Action::tempfail: return "tempfail";
        case FilterAnswer::Action::discard: return "discard";
        case FilterAnswer::Action::quarantine: return "quarantine";
        case FilterAnswer::Action::no_reply: return "no_reply";
    }
    return "continue";
}

store::CounterRequest counter_request(const rules::ApplicableQuota& quota, std::uint64_t cost) {
    store::CounterRequest request;
    request.counter.policy = quota.policy->name;
    request.counter.track = quota.quota->track_label();
    request.counter.unit = std::string(rules::to_string(quota.quota->unit));
    request.counter.window_seconds = static_cast<std::uint32_t>(quota.quota->window.count());
    request.counter.tracked_value = quota.tracked_value;
    request.limit = quota.quota->limit;
    request.cost = cost;
    return request;
}

namespace {

// The 451 of a store that cannot decide (on_store_error tempfail).
FilterAnswer store_unavailable_answer() {
    SmtpReply reply = store_unavailable_reply();
    FilterAnswer answer;
    answer.action = FilterAnswer::Action::tempfail;
    answer.rcode = std::move(reply.rcode);
    answer.xcode = std::move(reply.xcode);
    answer.text = std::move(reply.text);
    return answer;
}

// The envelope address as the client sent it, the way Postfix logs it in
// from=<...>: without the angle brackets, control characters replaced (a
// hostile envelope must not forge log lines), at most 320 bytes.
std::string address_for_log(std::string_view raw) {
    while (!raw.empty() && (raw.front() == ' ' || raw.front() == '\t')) raw.remove_prefix(1);
    while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\t')) raw.remove_suffix(1);
    if (raw.size() >= 2 && raw.front() == '<' && raw.back() == '>') raw = raw.substr(1, raw.size() - 2);
    std::string text(raw.substr(0, 320));
    for (char& c : text)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    return text;
}

// The milter never prints the reasons: skip building them on every event.
constexpr rules::PlanOptions kHotPath{.with_reasons = false};

bool ascii_iequals_prefix(std::string_view text, std::string_view prefix) {
    if (text.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i) {
        char a = text[i];
        if (a >= 'a' && a <= 'z') a = static_cast<char>(a - 'a' + 'A');
        if (a != prefix[i]) return false;
    }
    return true;
}

// SIZE=12345 among the ESMTP parameters (RFC 1870); garbage is ignored.
std::optional<std::uint64_t> declared_size(std::span<const std::string> params) {
    for (const auto& param : params) {
        if (!ascii_iequals_prefix(param, "SIZE=")) continue;
        std::uint64_t value = 0;
        const char* begin = param.data() + 5;
        const char* end = param.data() + param.size();
        auto [ptr, ec] = std::from_chars(begin, end, value);
        if (ec == std::errc() && ptr == end && begin != end) return value;
    }
    return std::nullopt;
}

bool refuses_early(const rules::ApplicableQuota& quota) {
    // Quarantine and discard accept the mail into the MTA, so they can only
    // act at end of message; monitor quotas never refuse.
    return quota.policy->mode == rules::Mode::enforce &&
           (quota.quota->verdict == rules::Verdict::reject || quota.quota->verdict == rules::Verdict::tempfail);
}

// The cost a MAIL/RCPT check asks about: a message has at least one byte, so
// an exhausted bytes quota refuses even without SIZE=.
std::uint64_t early_cost(const rules::ApplicableQuota& quota) {
    if (quota.quota->unit == rules::Unit::bytes) return std::max<std::uint64_t>(quota.cost, 1);
    return quota.cost;
}

std::string_view stage_name(int stage) {
    switch (stage) {
        case 0: return "MAIL";
        case 1: return "RCPT";
        case 3: return "END-OF-HEADERS";
        default: return "END-OF-MESSAGE";
    }
}

}  // namespace

Session::Message::Message() = default;

Session::Session(FilterEnvironment& environment, bool body_negotiated, NoReplyStages no_reply)
    : env_(environment), body_negotiated_(body_negotiated), no_reply_(no_reply) {
    env_.open_sessions.fetch_add(1, std::memory_order_relaxed);
    env_.metrics().connection_opened();
}

Session::~Session() {
    env_.metrics().connection_closed();
    env_.open_sessions.fetch_sub(1, std::memory_order_relaxed);
}

std::size_t Session::accepted_recipients() const {
    return message_ ? message_->facts.recipients.size() : 0;
}

void Session::note_queue_id(const std::optional<std::string>& queue_id) {
    if (message_ && queue_id && !queue_id->empty()) message_->queue_id = *queue_id;
}

FilterAnswer Session::on_connect(const std::optional<std::string>& client_ip,
                                 std::optional<std::uint16_t> client_port) {
    client_ip_ = client_ip;
    switch (env_.settings.non_smtp) {
        case NonSmtpDetection::always: non_smtp_ = true; break;
        case NonSmtpDetection::never: non_smtp_ = false; break;
        case NonSmtpDetection::automatic: non_smtp_ = client_port.has_value() && *client_port == 0; break;
    }
    if (env_.logger.enabled(LogLevel::debug))
        env_.logger.debug(fmt::format("connect from {} port {}{}", client_ip_.value_or("unknown"),
                                      client_port ? std::to_string(*client_port) : "-",
                                      non_smtp_ ? " (non-SMTP submission: decisions at end of message)" : ""));
    return FilterAnswer::proceed();
}

FilterAnswer Session::on_helo(std::string_view) { return FilterAnswer::proceed(); }

FilterAnswer Session::on_mail(std::string_view raw_sender, std::span<const std::string> esmtp_params,
                              const std::optional<std::string>& auth_authen,
                              const std::optional<std::string>& queue_id) {
    // A new transaction: whatever was left of the previous one is gone
    // (a refused MAIL is not followed by abort).
    message_.reset();
    auto rule_set = env_.rules.current();
    if (!rule_set) return FilterAnswer::proceed();

    Message& message = message_.emplace();
    message.rules = std::move(rule_set);
    message.facts.sender = rules::normalize_address(raw_sender);
    message.logged_sender = address_for_log(raw_sender);
    if (auth_authen && !auth_authen->empty()) message.facts.sasl_user = *auth_authen;
    message.facts.client_ip = client_ip_;
    message.declared_size = declared_size(esmtp_params);
    message.facts.size = message.declared_size.value_or(0);
    message.count_bytes = body_negotiated_ && message.rules->needs_body();
    if (message.rules->needs_headers()) message.headers.emplace(message.rules->header_names());
    note_queue_id(queue_id);

    if (non_smtp_) return FilterAnswer::proceed();

    const rules::MessagePlan plan = rules::plan_at_mail(*message.rules, message.facts, kHotPath);
    std::vector<const rules::ApplicableQuota*> asked;
    std::vector<store::CounterRequest> requests;
    for (const auto& quota : plan.quotas) {
        if (!refuses_early(quota)) continue;
        std::uint64_t cost = early_cost(quota);
        if (cost == 0) continue;
        asked.push_back(&quota);
        requests.push_back(counter_request(quota, cost));
    }
    if (requests.empty()) return FilterAnswer::proceed();

    const store::Decision decision = env_.store.check(requests);
    switch (decision.outcome) {
        case store::Outcome::admitted:
            env_.store_health.record_success();
            message.known_to_fit = std::move(requests);
            return FilterAnswer::proceed();
        case store::Outcome::refused: {
            env_.store_health.record_success();
            if (decision.refused_index >= asked.size()) return FilterAnswer::proceed();
            FilterAnswer answer = refuse(message, *asked[decision.refused_index], requests[decision.refused_index].cost,
                                         decision, Stage::mail, nullptr);
            message_.reset();
            return answer;
        }
        case store::Outcome::store_error: break;
    }
    return store_failed(decision, Stage::mail);
}

FilterAnswer Session::on_rcpt(std::string_view raw_recipient, const std::optional<std::string>& queue_id) {
    note_queue_id(queue_id);
    if (!message_) return FilterAnswer::proceed();
    Message& message = *message_;
    rules::Address candidate = rules::normalize_address(raw_recipient);
    if (non_smtp_) {
        message.facts.recipients.push_back(std::move(candidate));
        return FilterAnswer::proceed();
    }

    rules::MessageFacts facts = message.facts;
    facts.recipients.push_back(candidate);
    const rules::MessagePlan plan = rules::plan_message(*message.rules, facts, kHotPath);
    std::vector<const rules::ApplicableQuota*> asked;
    std::vector<store::CounterRequest> requests;
    auto already_fits = [&](const store::CounterRequest& request) {
        return std::any_of(message.known_to_fit.begin(), message.known_to_fit.end(), [&](const auto& known) {
            return known.cost >= request.cost && known.limit == request.limit && known.counter == request.counter;
        });
    };
    for (const auto& quota : plan.quotas) {
        if (!refuses_early(quota)) continue;
        std::uint64_t cost = early_cost(quota);
        if (cost == 0) continue;
        store::CounterRequest request = counter_request(quota, cost);
        if (already_fits(request)) continue;
        asked.push_back(&quota);
        requests.push_back(std::move(request));
    }
    if (!requests.empty()) {
        const store::Decision decision = env_.store.check(requests);
        switch (decision.outcome) {
            case store::Outcome::admitted:
                env_.store_health.record_success();
                for (auto& request : requests) message.known_to_fit.push_back(std::move(request));
                break;
            case store::Outcome::refused:
                env_.store_health.record_success();
                if (decision.refused_index < asked.size())
                    return refuse(message, *asked[decision.refused_index], requests[decision.refused_index].cost,
                                  decision, Stage::rcpt, &candidate);
                break;
            case store::Outcome::store_error: {
                FilterAnswer answer = store_failed(decision, Stage::rcpt);
                if (answer.action != FilterAnswer::Action::accept) return answer;  // this recipient only
                message_.reset();
                return answer;
            }
        }
    }
    message.facts.recipients.push_back(std::move(candidate));
    return FilterAnswer::proceed();
}

FilterAnswer Session::on_data(const std::optional<std::string>& queue_id) {
    note_queue_id(queue_id);
    return FilterAnswer::proceed();
}

FilterAnswer Session::on_header(std::string_view name, std::string_view value) {
    // "Name: value\r\n" as it travels (libmilter strips the space after the colon).
    if (message_ && message_->count_bytes) message_->counted_bytes += name.size() + 2 + value.size() + 2;
    if (message_ && message_->headers) message_->headers->add(name, value);
    return no_reply_.header ? FilterAnswer::no_reply() : FilterAnswer::proceed();
}

FilterAnswer Session::on_eoh() {
    // An error met in a header callback that could not answer: answered here,
    // the first stage that can (non-SMTP mail: at end of message).
    if (message_ && message_->internal_error && !non_smtp_) {
        FilterAnswer answer = answer_deferred_error(*message_, Stage::eoh);
        message_.reset();  // refused or accepted: no end of message, no abort follows
        return answer;
    }
    if (!message_ || !message_->headers) return FilterAnswer::proceed();
    message_->saw_end_of_headers = true;
    // Content rules are decided here; non-SMTP mail waits for end of message
    // (Postfix wants its refusals there).
    if (non_smtp_) return FilterAnswer::proceed();
    const rules::MessagePlan plan = rules::plan_message(*message_->rules, facts_with_headers(*message_), kHotPath);
    std::optional<FilterAnswer> refusal = content_verdict(*message_, plan, Stage::eoh);
    if (!refusal) return FilterAnswer::proceed();
    message_.reset();  // refused: no end of message, no abort follows
    return *refusal;
}

FilterAnswer Session::on_body(std::size_t length) {
    if (message_ && message_->count_bytes) message_->counted_bytes += length;
    return no_reply_.body ? FilterAnswer::no_reply() : FilterAnswer::proceed();
}

void Session::defer_internal_error() noexcept {
    if (message_) message_->internal_error = true;
}

FilterAnswer Session::answer_deferred_error(const Message& message, Stage stage) {
    const bool tempfail = env_.settings.on_store_error == OnStoreError::tempfail;
    env_.logger.warning(fmt::format("{}: internal error in the header or body stage, answered at {}: {}",
                                    message.queue_id.empty() ? "NOQUEUE" : message.queue_id,
                                    stage_name(static_cast<int>(stage)), tempfail ? "tempfail" : "accept"));
    // As the adapter answers an exception in a stage that can answer.
    if (!tempfail) return FilterAnswer::accept_message();
    return store_unavailable_answer();
}

FilterAnswer Session::on_eom(const std::optional<std::string>& queue_id) {
    note_queue_id(queue_id);
    if (!message_) return FilterAnswer::proceed();
    // Whatever happens next, this transaction ends here.
    const Message message = std::move(*message_);
    message_.reset();
    if (message.internal_error) return answer_deferred_error(message, Stage::eom);

    rules::MessageFacts facts = facts_with_headers(message);
    // + the empty line between headers and body, counted here: end of
    // headers is not negotiated when only byte quotas read the content.
    if (message.count_bytes) facts.size = message.counted_bytes + 2;
    else facts.size = message.declared_size.value_or(0);
    const rules::MessagePlan plan = rules::plan_message(*message.rules, facts, kHotPath);
    // A content rule that refuses: before any quota is charged (refused mail counts nothing).
    std::optional<FilterAnswer> content = plan.verdicts.empty() ? std::nullopt : content_verdict(message, plan, Stage::eom);
    if (content && content->action != FilterAnswer::Action::quarantine) return *content;

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
                if (decision.refused_index < enforced.size()) {
                    FilterAnswer over = refuse(message, *enforced[decision.refused_index],
                                               requests[decision.refused_index].cost, decision, Stage::eom, nullptr);
                    // Held, the message is still accepted: it carries its tags.
                    if (over.action == FilterAnswer::Action::quarantine) add_tag_headers(plan, over);
                    return over;
                }
                return FilterAnswer::proceed();
            case store::Outcome::store_error: return store_failed(decision, Stage::eom);
        }
    }
    charge_monitor_quotas(message, std::move(monitored));
    env_.metrics().message_accepted();
    FilterAnswer accepted = content ? std::move(*content) : FilterAnswer::proceed();  // proceed, or quarantine
    add_tag_headers(plan, accepted);
    if (env_.logger.enabled(LogLevel::debug))  // not formatted for nothing on every message
        env_.logger.debug(fmt::format("{}: accepted: from=<{}> nrcpt={} size={} quotas={}",
                                      message.queue_id.empty() ? "NOQUEUE" : message.queue_id,
                                      message.logged_sender, message.facts.recipients.size(), facts.size,
                                      plan.quotas.size()));
    return accepted;
}

void Session::on_abort() { message_.reset(); }

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
        if (decision.outcome == store::Outcome::store_error) {
            env_.store_health.record_failure(decision.error, "accept (monitor-mode quotas)");
            return;
        }
        env_.store_health.record_success();
        if (decision.refused_index >= quotas.size()) return;
        const auto* full = quotas[decision.refused_index];
        log_quota_event(message, *full, full->cost, decision, Stage::eom, nullptr,
                        fmt::format("would {}", rules::to_string(full->quota->verdict)));
        env_.metrics().refusal(full->policy->name, fmt::format("would_{}", rules::to_string(full->quota->verdict)));
        quotas.erase(quotas.begin() + static_cast<std::ptrdiff_t>(decision.refused_index));
    }
}

FilterAnswer Session::refuse(const Message& message, const rules::ApplicableQuota& quota, std::uint64_t cost,
                             const store::Decision& decision, Stage stage, const rules::Address* recipient) {
    const rules::Quota& q = *quota.quota;
    log_quota_event(message, quota, cost, decision, stage, recipient, rules::to_string(q.verdict));
    env_.metrics().refusal(quota.policy->name, rules::to_string(q.verdict));

    ReplyValues values;
    values.policy = quota.policy->name;
    values.track = q.track_label();
    values.key = quota.tracked_value;
    values.unit = std::string(rules::to_string(q.unit));
    values.count = decision.count;
    values.limit = decision.limit ? decision.limit : q.limit;
    values.window = q.window;
    values.retry_after = decision.retry_after;

    FilterAnswer answer;
    switch (q.verdict) {
        case rules::Verdict::reject:
        case rules::Verdict::tempfail: {
            SmtpReply reply = make_reply(q.verdict, q.reply, values);
            answer.action = q.verdict == rules::Verdict::reject ? FilterAnswer::Action::reject
                                                                : FilterAnswer::Action::tempfail;
            answer.rcode = std::move(reply.rcode);
            answer.xcode = std::move(reply.xcode);
            answer.text = std::move(reply.text);
            break;
        }
        case rules::Verdict::quarantine:
            answer.action = FilterAnswer::Action::quarantine;
            answer.quarantine_reason = sanitize_reply_text(
                fmt::format("quota policy={} track={} key={} count={}/{}", values.policy, values.track, values.key,
                            values.count, values.limit));
            break;
        case rules::Verdict::discard: answer.action = FilterAnswer::Action::discard; break;
        case rules::Verdict::tag:
            // Accept and mark: "X-Quota-Policy: <policy>".
            answer.add_headers.emplace_back("X-Quota-Policy", quota.policy->name);
            break;
    }
    return answer;
}

FilterAnswer Session::store_failed(const store::Decision& decision, Stage stage) {
    const bool tempfail = env_.settings.on_store_error == OnStoreError::tempfail;
    env_.store_health.record_failure(decision.error.empty() ? "unknown error" : decision.error,
                                     tempfail ? "tempfail" : "accept");
    env_.metrics().store_error_answer(tempfail ? "tempfail" : "accept");
    if (!tempfail) {
        // Fail open for this message: let it through uncounted, and stop
        // asking the store about it.
        if (stage != Stage::rcpt) message_.reset();
        return FilterAnswer::accept_message();
    }
    if (stage == Stage::mail) message_.reset();
    return store_unavailable_answer();
}

void Session::log_quota_event(const Message& message, const rules::ApplicableQuota& quota, std::uint64_t cost,
                              const store::Decision& decision, Stage stage, const rules::Address* recipient,
                              std::string_view verdict_word) {
    const rules::Quota& q = *quota.quota;
    std::string line = fmt::format(
        "{}: {}: policy={} track={} key=<{}> count={}/{} window={}s from=<{}>",
        message.queue_id.empty() ? "NOQUEUE" : message.queue_id, verdict_word, quota.policy->name,
        q.track_label(), quota.tracked_value, decision.count, decision.limit ? decision.limit : q.limit,
        q.window.count(), message.logged_sender);
    if (recipient) {
        line += fmt::format(" to=<{}>", recipient->str());
    } else if (!message.facts.recipients.empty()) {
        line += fmt::format(" to=<{}>", message.facts.recipients.front().str());
        if (message.facts.recipients.size() > 1) line += fmt::format(" nrcpt={}", message.facts.recipients.size());
    }
    line += fmt::format(" client={}", client_ip_.value_or("unknown"));
    if (message.facts.sasl_user) line += fmt::format(" sasl_username={}", *message.facts.sasl_user);
    line += fmt::format(" stage={} cost={}", stage_name(static_cast<int>(stage)), cost);
    if (decision.retry_after) line += fmt::format(" retry_after={}", format_retry_after(decision.retry_after));
    env_.logger.info(line);
}

}  // namespace quotamilter::filter
