// The filter core: one Session per milter connection, holding the connection
// and the current message, and deciding every answer. No libmilter here: the
// adapter (libmilter_adapter.cpp) feeds it decoded events, and tests drive it
// directly.
//
// Counting happens only at end of message (one atomic charge of every
// enforced quota), so refused, aborted, RSET or QUIT transactions consume
// nothing. MAIL FROM and RCPT TO only ask the store (check) whether the
// message could still fit, to refuse as early as the information allows.
#pragma once

#include "filter/filter_answer.h"
#include "filter/header_collector.h"
#include "filter/log.h"
#include "filter/metrics.h"
#include "filter/rules_holder.h"
#include "filter/store_health.h"
#include "rules/evaluate.h"
#include "store/quota_store.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace quotamilter::filter {

enum class OnStoreError { tempfail, accept };

// How to tell mail submitted without SMTP (Postfix non_smtpd_milters:
// sendmail(1), pickup) from SMTP mail. Postfix's cleanup emulates the SMTP
// events for such mail with a connect from "localhost" 127.0.0.1 port 0
// (cleanup_milter.c, cleanup_milter_client_init); a real SMTP client never
// has port 0. Postfix treats a refusal at RCPT there as a configuration error,
// so for such mail every decision is taken at end of message.
enum class NonSmtpDetection { automatic, always, never };

struct FilterSettings {
    OnStoreError on_store_error = OnStoreError::tempfail;
    NonSmtpDetection non_smtp = NonSmtpDetection::automatic;
};

// Everything sessions share; outlives every session.
class FilterEnvironment {
public:
    // `metrics` may be null (no metrics endpoint).
    FilterEnvironment(RulesHolder& rules, store::QuotaStore& store, Logger& logger, FilterSettings settings,
                      Metrics* metrics = nullptr)
        : rules(rules), store(store), logger(logger), settings(settings), store_health(logger), metrics_(metrics) {}

    Metrics& metrics() { return metrics_ ? *metrics_ : no_metrics_; }

    RulesHolder& rules;
    store::QuotaStore& store;
    Logger& logger;
    const FilterSettings settings;
    StoreHealth store_health;
    std::atomic<long> open_sessions{0};  // lets shutdown wait for connections in flight

private:
    Metrics* metrics_;
    NoMetrics no_metrics_;
};

// The stages negotiated "no reply" for one connection (SMFIP_NR_HDR,
// SMFIP_NR_BODY; negotiation.h): their events then always answer
// FilterAnswer::Action::no_reply, and what they could have answered (only an
// internal error: they never refuse) waits for the next answered stage.
struct NoReplyStages {
    bool header = false;
    bool body = false;
};

class Session {
public:
    // `body_negotiated`: the MTA will send headers and body (decided at
    // negotiate from the rules then in force). `no_reply`: as negotiated.
    Session(FilterEnvironment& environment, bool body_negotiated, NoReplyStages no_reply = {});
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    FilterAnswer on_connect(const std::optional<std::string>& client_ip, std::optional<std::uint16_t> client_port);
    FilterAnswer on_helo(std::string_view helo);
    // `raw_sender`: MAIL FROM argument as sent; `esmtp_params`: SIZE=, BODY=, ...;
    // `auth_authen`: the {auth_authen} macro, unset when not authenticated.
    FilterAnswer on_mail(std::string_view raw_sender, std::span<const std::string> esmtp_params,
                         const std::optional<std::string>& auth_authen, const std::optional<std::string>& queue_id);
    FilterAnswer on_rcpt(std::string_view raw_recipient, const std::optional<std::string>& queue_id);
    FilterAnswer on_data(const std::optional<std::string>& queue_id);
    // Headers and body chunks only collect (bytes, header values) and never
    // decide: continue, or no_reply when negotiated so.
    FilterAnswer on_header(std::string_view name, std::string_view value);
    FilterAnswer on_eoh();
    FilterAnswer on_body(std::size_t length);
    // The adapter met an exception in a stage that cannot answer (no reply):
    // the current message is answered as for an internal error (tempfail, or
    // accept with on_store_error accept) at end of headers when that stage
    // is negotiated (SMTP mail), else at end of message.
    void defer_internal_error() noexcept;
    FilterAnswer on_eom(const std::optional<std::string>& queue_id);
    void on_abort();

    bool body_negotiated() const { return body_negotiated_; }
    const NoReplyStages& no_reply() const { return no_reply_; }
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
        bool saw_end_of_headers = false;              // headers known (they were negotiated)
        // Early checks this transaction already passed (at MAIL or an earlier
        // RCPT): asked again only with a higher cost. Saves a Redis round trip
        // per RCPT for sender-keyed quotas; the end-of-message charge stays
        // authoritative, so a quota filled meanwhile by another session still
        // refuses there.
        std::vector<store::CounterRequest> known_to_fit;
        std::string logged_sender;  // MAIL FROM as sent, for from=<...> beside Postfix's own lines
        bool internal_error = false;  // met in a "no reply" stage, answered at the next answered one
    };

    enum class Stage { mail, rcpt, eom, eoh };

    FilterAnswer refuse(const Message& message, const rules::ApplicableQuota& quota, std::uint64_t cost,
                        const store::Decision& decision, Stage stage, const rules::Address* recipient);
    FilterAnswer store_failed(const store::Decision& decision, Stage stage);
    // The answer to an internal error deferred from a "no reply" stage (the
    // caller ends the message).
    FilterAnswer answer_deferred_error(const Message& message, Stage stage);
    // One greppable line: "QUEUEID: reject: policy=... track=... key=<...> count=N/LIMIT window=Ns from=<...> ..."
    void log_quota_event(const Message& message, const rules::ApplicableQuota& quota, std::uint64_t cost,
                         const store::Decision& decision, Stage stage, const rules::Address* recipient,
                         std::string_view verdict_word);
    void charge_monitor_quotas(const Message& message, std::vector<const rules::ApplicableQuota*> quotas);
    void note_queue_id(const std::optional<std::string>& queue_id);
    // Content rules (filter/session_content.cpp): the facts with the headers,
    // the answer of a refusing verdict, "would ..." lines for monitor ones,
    // and the tag headers of an accepted message.
    rules::MessageFacts facts_with_headers(const Message& message) const;
    std::optional<FilterAnswer> content_verdict(const Message& message, const rules::MessagePlan& plan, Stage stage);
    void log_content_verdict(const Message& message, const rules::Policy& policy, std::string_view verdict_word,
                             Stage stage);
    static void add_tag_headers(const rules::MessagePlan& plan, FilterAnswer& answer);

    FilterEnvironment& env_;
    const bool body_negotiated_;
    const NoReplyStages no_reply_;
    std::optional<std::string> client_ip_;
    bool non_smtp_ = false;
    std::optional<Message> message_;
};

// The store request of an applicable quota, at `cost`.
store::CounterRequest counter_request(const rules::ApplicableQuota& quota, std::uint64_t cost);

}  // namespace quotamilter::filter
