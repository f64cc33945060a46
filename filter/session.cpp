// The session's events and the one exit of its answers (filter/session.h).
#include "filter/session.h"

#include "rules/address.h"

#include <fmt/format.h>

#include <charconv>

namespace quotamilter::filter {

namespace {

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

// The stage= word of a log line for an event.
std::string_view event_log_name(Event event) {
    switch (event) {
        case Event::connect: return "CONNECT";
        case Event::mail: return "MAIL";
        case Event::rcpt: return "RCPT";
        case Event::data: return "DATA";
        case Event::header: return "HEADER";
        case Event::end_of_headers: return "END-OF-HEADERS";
        case Event::body: return "BODY";
        case Event::end_of_message: return "END-OF-MESSAGE";
    }
    return "END-OF-MESSAGE";
}

}  // namespace

bool NegotiatedStages::no_reply(Event event) const {
    switch (event) {
        case Event::connect: return no_reply_connect;
        case Event::mail: return no_reply_mail;
        case Event::rcpt: return no_reply_rcpt;
        case Event::data: return no_reply_data;
        case Event::header: return no_reply_header;
        case Event::body: return no_reply_body;
        case Event::end_of_headers:
        case Event::end_of_message: return false;
    }
    return false;
}

Session::Message::Message() = default;

Session::Session(FilterEnvironment& environment, NegotiatedStages stages) : env_(environment), stages_(stages) {
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

bool Session::ends_transaction(Event event, const FilterAnswer& answer) {
    if (event == Event::end_of_message) return true;
    switch (answer.action) {
        case FilterAnswer::Action::continue_:
        case FilterAnswer::Action::no_reply: return false;
        case FilterAnswer::Action::reject:
        case FilterAnswer::Action::tempfail: return event != Event::rcpt;  // at RCPT: that recipient only
        default: return true;
    }
}

bool Session::can_answer(Event event) const {
    // Mail without SMTP is answered at end of message only (environment.h).
    return !stages_.no_reply(event) && (!non_smtp_ || event == Event::end_of_message || event == Event::mail);
}

bool Session::gives_held_answer(Event event) const { return held_answer_ && can_answer(event); }

FilterAnswer Session::answer(Event event, FilterAnswer given) {
    const bool can_answer = this->can_answer(event);
    if (held_answer_ && can_answer) {
        // What an earlier stage could not say comes first: it was decided first.
        given = std::move(*held_answer_);
        held_answer_.reset();
        if (held_internal_error_)
            env_.logger.warning(fmt::format("{}: internal error in a stage that answers nothing, answered at {}: {}",
                                            message_ && !message_->queue_id.empty() ? message_->queue_id : "NOQUEUE",
                                            event_log_name(event), to_string(given.action)));
        held_internal_error_ = false;
        if (event == Event::rcpt && given.refuses()) event = Event::mail;  // it refuses the message, not a recipient
    }
    if (!can_answer && given.action != FilterAnswer::Action::continue_ &&
        given.action != FilterAnswer::Action::no_reply) {
        if (!held_answer_) held_answer_ = std::move(given);
        given = FilterAnswer::proceed();
    }
    if (ends_transaction(event, given)) message_.reset();
    if (stages_.no_reply(event)) return FilterAnswer::no_reply();
    return given;
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
    return answer(Event::connect, FilterAnswer::proceed());
}

FilterAnswer Session::on_mail(std::string_view raw_sender, std::span<const std::string> esmtp_params,
                              const std::optional<std::string>& auth_authen,
                              const std::optional<std::string>& queue_id) {
    // A new transaction: whatever was left of the previous one is gone
    // (a refused MAIL is not followed by abort).
    message_.reset();
    held_answer_.reset();
    auto rule_set = env_.rules.current();
    if (!rule_set) return answer(Event::mail, FilterAnswer::proceed());

    Message& message = message_.emplace();
    message.rules = std::move(rule_set);
    message.facts.sender = rules::normalize_address(raw_sender);
    message.logged_sender = address_for_log(raw_sender);
    if (auth_authen && !auth_authen->empty()) message.facts.sasl_user = *auth_authen;
    message.facts.client_ip = client_ip_;
    message.declared_size = declared_size(esmtp_params);
    message.facts.size = message.declared_size.value_or(0);
    message.count_bytes = stages_.body && message.rules->needs_body();
    if (message.rules->needs_headers()) message.headers.emplace(message.rules->header_names());
    note_queue_id(queue_id);
    if (non_smtp_) return answer(Event::mail, FilterAnswer::proceed());

    rules::StageDecision decided = rules::decide_at(*message.rules, message.facts, rules::Stage::mail, kHotPath);
    if (decided.verdict)
        return answer(Event::mail, content_answer(message, *decided.verdict, rules::Stage::mail, nullptr));
    return answer(Event::mail, check_early(message, std::move(decided.checks), rules::Stage::mail, nullptr));
}

FilterAnswer Session::on_rcpt(std::string_view raw_recipient, const std::optional<std::string>& queue_id) {
    note_queue_id(queue_id);
    if (!message_ || gives_held_answer(Event::rcpt)) return answer(Event::rcpt, FilterAnswer::proceed());
    Message& message = *message_;
    // The candidate joins the accepted recipients for the plan, and leaves
    // again if refused: no copy of the list per RCPT.
    std::vector<rules::Address>& recipients = message.facts.recipients;
    recipients.push_back(rules::normalize_address(raw_recipient));
    if (non_smtp_) return answer(Event::rcpt, FilterAnswer::proceed());

    rules::StageDecision decided = rules::decide_at(*message.rules, message.facts, rules::Stage::rcpt, kHotPath);
    const rules::Address& candidate = recipients.back();
    FilterAnswer given = decided.verdict
                             ? content_answer(message, *decided.verdict, rules::Stage::rcpt, &candidate)
                             : check_early(message, std::move(decided.checks), rules::Stage::rcpt, &candidate);
    if (given.refuses()) recipients.pop_back();
    return answer(Event::rcpt, std::move(given));
}

FilterAnswer Session::on_data(const std::optional<std::string>& queue_id) {
    note_queue_id(queue_id);
    return answer(Event::data, FilterAnswer::proceed());
}

FilterAnswer Session::on_header(std::string_view name, std::string_view value) {
    // "Name: value\r\n" as it travels (libmilter strips the space after the colon).
    if (message_ && message_->count_bytes) message_->counted_bytes += name.size() + 2 + value.size() + 2;
    if (message_ && message_->headers) message_->headers->add(name, value);
    return answer(Event::header, FilterAnswer::proceed());
}

FilterAnswer Session::on_eoh() {
    if (!message_ || gives_held_answer(Event::end_of_headers))
        return answer(Event::end_of_headers, FilterAnswer::proceed());
    Message& message = *message_;
    message.saw_end_of_headers = true;
    if (!message.headers || non_smtp_) return answer(Event::end_of_headers, FilterAnswer::proceed());
    const rules::StageDecision decided =
        rules::decide_at(*message.rules, facts_with_headers(message), rules::Stage::end_of_headers, kHotPath);
    if (!decided.verdict) return answer(Event::end_of_headers, FilterAnswer::proceed());
    return answer(Event::end_of_headers,
                  content_answer(message, *decided.verdict, rules::Stage::end_of_headers, nullptr));
}

FilterAnswer Session::on_body(std::size_t length) {
    if (message_ && message_->count_bytes) message_->counted_bytes += length;
    return answer(Event::body, FilterAnswer::proceed());
}

void Session::defer_internal_error() noexcept {
    if (!message_) return;  // nothing to answer for outside a message
    try {
        held_answer_ = internal_error_answer();
        held_internal_error_ = true;
    } catch (...) {
    }
}

FilterAnswer Session::on_eom(const std::optional<std::string>& queue_id) {
    note_queue_id(queue_id);
    if (!message_ || gives_held_answer(Event::end_of_message))
        return answer(Event::end_of_message, FilterAnswer::proceed());
    Message& message = *message_;

    rules::MessageFacts facts = facts_with_headers(message);
    // + the empty line between headers and body, counted here: end of
    // headers is not negotiated when only byte quotas read the content.
    facts.size = message.count_bytes ? message.counted_bytes + 2 : message.declared_size.value_or(0);
    const rules::StageDecision decided = rules::decide_at(*message.rules, facts, rules::Stage::end_of_message, kHotPath);
    const rules::MessagePlan& plan = decided.plan;
    log_monitor_verdicts(message, plan);
    const rules::Policy* verdict = decided.verdict;
    // A content rule that refuses or drops: before any quota is charged
    // (refused mail counts nothing).
    if (verdict && *verdict->verdict != rules::Verdict::quarantine)
        return answer(Event::end_of_message, content_answer(message, *verdict, rules::Stage::end_of_message, nullptr));

    if (std::optional<FilterAnswer> refused = charge_quotas(message, plan)) {
        // Held by a quota, the message is still accepted: it carries its tags.
        if (refused->action == FilterAnswer::Action::quarantine) add_tag_headers(plan, *refused);
        return answer(Event::end_of_message, std::move(*refused));
    }
    FilterAnswer accepted = verdict ? content_answer(message, *verdict, rules::Stage::end_of_message, nullptr)
                                    : FilterAnswer::proceed();
    add_tag_headers(plan, accepted);
    if (env_.logger.enabled(LogLevel::debug))  // not formatted for nothing on every message
        env_.logger.debug(fmt::format("{}: accepted: from=<{}> nrcpt={} size={} quotas={}{}",
                                      message.queue_id.empty() ? "NOQUEUE" : message.queue_id,
                                      message.logged_sender, message.facts.recipients.size(), facts.size,
                                      plan.quotas.size(), message.quotas_waived ? " (uncounted: store failed)" : ""));
    return answer(Event::end_of_message, std::move(accepted));
}

void Session::on_abort() {
    message_.reset();
    held_answer_.reset();
    held_internal_error_ = false;
}

}  // namespace quotamilter::filter
