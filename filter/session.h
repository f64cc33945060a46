// The filter core: one Session per milter connection, holding the connection
// and the current message, and giving every answer. No libmilter here: the
// adapter (milter/libmilter_adapter.cpp) feeds it decoded events, and tests
// drive it directly.
//
// What may act at which stage is the rules' stage plan (rules/stage_plan.h);
// the session follows it:
//   - MAIL FROM and RCPT TO: a content rule whose stage has come refuses; else
//     the store is asked (check, read-only) whether the message could still
//     fit, to refuse as early as the information allows.
//   - End of headers: content rules with header conditions.
//   - End of message: content rules that act there, then one atomic charge of
//     every enforced quota, so refused, aborted, RSET or QUIT transactions
//     consume nothing; monitor quotas are charged after and only logged.
// A store failure changes the quota answer only (on_store_error): content
// rules and tags still apply, and no log line describes an action that was
// not taken.
//
// One owner of the message's lifetime: every answer leaves through
// Session::answer, which ends the transaction when the answer does, and
// holds back what a stage negotiated "no reply" may not say until the next
// stage that answers.
#pragma once

#include "filter/environment.h"
#include "filter/filter_answer.h"
#include "filter/header_collector.h"
#include "rules/evaluate.h"
#include "rules/stage_plan.h"
#include "store/quota_store.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace quotamilter::filter {

// The milter events of one connection, in the order they come.
enum class Event { connect, mail, rcpt, data, header, end_of_headers, body, end_of_message };

// What was negotiated with the MTA for one connection (milter/negotiation.h
// decides it from the rules' StageNeeds). The defaults are an MTA that sends
// everything and waits for every answer.
struct NegotiatedStages {
    bool headers = true;          // header callbacks come (values, bytes)
    bool end_of_headers = true;   // the end-of-headers callback comes
    bool body = true;             // body chunks come (bytes)
    // Stages the MTA expects no reply to (SMFIP_NR_*): their events always
    // answer FilterAnswer::Action::no_reply. Anything else they would have
    // said (an internal error; a refusal that rules reloaded after negotiate
    // bring) waits for the next stage that answers.
    bool no_reply_connect = false;
    bool no_reply_mail = false;
    bool no_reply_rcpt = false;
    bool no_reply_data = false;
    bool no_reply_header = false;
    bool no_reply_body = false;

    bool no_reply(Event event) const;
};

class Session {
public:
    explicit Session(FilterEnvironment& environment, NegotiatedStages stages = {});
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    FilterAnswer on_connect(const std::optional<std::string>& client_ip, std::optional<std::uint16_t> client_port);
    // `raw_sender`: MAIL FROM argument as sent; `esmtp_params`: SIZE=, BODY=, ...;
    // `auth_authen`: the {auth_authen} macro, unset when not authenticated.
    FilterAnswer on_mail(std::string_view raw_sender, std::span<const std::string> esmtp_params,
                         const std::optional<std::string>& auth_authen, const std::optional<std::string>& queue_id);
    FilterAnswer on_rcpt(std::string_view raw_recipient, const std::optional<std::string>& queue_id);
    FilterAnswer on_data(const std::optional<std::string>& queue_id);
    // Headers and body chunks only collect (bytes, header values) and never decide.
    FilterAnswer on_header(std::string_view name, std::string_view value);
    FilterAnswer on_eoh();
    FilterAnswer on_body(std::size_t length);
    FilterAnswer on_eom(const std::optional<std::string>& queue_id);
    void on_abort();
    // The adapter met an exception in a stage negotiated "no reply": the
    // current message gets the internal-error answer (as on_store_error says)
    // at the next stage that answers.
    void defer_internal_error() noexcept;

    const NegotiatedStages& stages() const { return stages_; }
    bool non_smtp() const { return non_smtp_; }
    // Recipients accepted in the current transaction (for tests and logs).
    std::size_t accepted_recipients() const;
    bool in_message() const { return message_.has_value(); }

private:
    struct Message {
        // Declared (defined in session.cpp) so that clang sees std::optional<Message>
        // as constructible before the member initialisers below are parsed (fuzz build).
        Message();
        std::shared_ptr<const rules::RuleSet> rules;  // the snapshot taken at MAIL FROM
        rules::MessageFacts facts;
        std::string queue_id;
        std::optional<std::uint64_t> declared_size;   // SIZE=
        bool count_bytes = false;                     // body negotiated and the rules count bytes
        std::uint64_t counted_bytes = 0;              // header + body bytes seen
        std::optional<HeaderCollector> headers;       // when some rule looks at headers
        bool saw_end_of_headers = false;              // every header has been seen
        // Early checks this transaction already passed (rules::PassedCheck):
        // saves a Redis round trip per RCPT for sender-keyed quotas.
        std::vector<rules::PassedCheck> passed_checks;
        // The store failed and on_store_error is accept: the message goes on
        // uncounted, and the store is not asked about it again.
        bool quotas_waived = false;
        std::string logged_sender;  // MAIL FROM as sent, for from=<...> beside Postfix's own lines
    };

    // The one exit of every answer (see the header comment).
    FilterAnswer answer(Event event, FilterAnswer answer);
    static bool ends_transaction(Event event, const FilterAnswer& answer);
    bool can_answer(Event event) const;
    // A held answer goes out at this event: the event decides nothing itself.
    bool gives_held_answer(Event event) const;

    // Quotas (filter/session_quotas.cpp).
    // Asks the store about the quotas the stage plan checks early.
    FilterAnswer check_early(Message& message, std::vector<const rules::ApplicableQuota*> checks,
                             rules::Stage stage, const rules::Address* recipient);
    // The quota answer at end of message: unset when the message may pass
    // (charged, or the store failed with on_store_error accept).
    std::optional<FilterAnswer> charge_quotas(Message& message, const rules::MessagePlan& plan);
    void charge_monitor_quotas(const Message& message, std::vector<const rules::ApplicableQuota*> quotas);
    FilterAnswer refuse(const Message& message, const rules::ApplicableQuota& quota, std::uint64_t cost,
                        const store::Decision& decision, rules::Stage stage, const rules::Address* recipient);
    // The store could not decide (or decided the impossible): the quota
    // answer per on_store_error; with accept the message's quotas are waived.
    FilterAnswer store_failed(Message& message, const std::string& error);
    // An internal error's answer, per on_store_error.
    FilterAnswer internal_error_answer() const;

    // Content rules (filter/session_content.cpp).
    rules::MessageFacts facts_with_headers(const Message& message) const;
    FilterAnswer content_answer(const Message& message, const rules::Policy& policy, rules::Stage stage,
                                const rules::Address* recipient);
    void log_monitor_verdicts(const Message& message, const rules::MessagePlan& plan);
    static void add_tag_headers(const rules::MessagePlan& plan, FilterAnswer& answer);

    // Log lines beside Postfix's own (filter/session_log.cpp): "QUEUEID: WORD:
    // policy=NAME", the rule's fields, then the envelope and the stage.
    void log_quota_event(const Message& message, const rules::ApplicableQuota& quota, std::uint64_t cost,
                         const store::Decision& decision, rules::Stage stage, const rules::Address* recipient,
                         std::string_view word) const;
    void log_content_verdict(const Message& message, const rules::Policy& policy, std::string_view word,
                             rules::Stage stage, const rules::Address* recipient) const;
    std::string log_envelope(const Message& message, const rules::Address* recipient, rules::Stage stage) const;

    void note_queue_id(const std::optional<std::string>& queue_id);

    FilterEnvironment& env_;
    const NegotiatedStages stages_;
    std::optional<std::string> client_ip_;
    bool non_smtp_ = false;
    std::optional<Message> message_;
    // An answer a "no reply" stage could not give; the next answered stage gives it.
    std::optional<FilterAnswer> held_answer_;
    bool held_internal_error_ = false;  // the held answer is an internal error's (logged when given)
};

}  // namespace quotamilter::filter
