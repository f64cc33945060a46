// What every session of one `serve` process shares: the rules in force, the
// store, the logger, the metrics and the settings that shape answers. It
// outlives every session.
#pragma once

#include "filter/log.h"
#include "filter/metrics.h"
#include "filter/rules_holder.h"
#include "filter/store_health.h"
#include "store/quota_store.h"

#include <atomic>

namespace quotamilter::filter {

// What a message gets when the store cannot decide its quotas (Redis down,
// timeout, an impossible answer) or the filter meets an internal error:
// tempfail (451 4.7.1, the mail waits) or accept (uncounted). It changes the
// quota answer only: content rules still apply.
enum class OnStoreError { tempfail, accept };

// How to tell mail submitted without SMTP (Postfix non_smtpd_milters:
// sendmail(1), pickup) from SMTP mail. Postfix's cleanup emulates the SMTP
// events for such mail with a connect from "localhost" 127.0.0.1 port 0
// (in Postfix's cleanup server); a real SMTP client never has port 0. Postfix
// treats a refusal at RCPT there as a configuration error, so for such mail
// every decision is taken at end of message.
enum class NonSmtpDetection { automatic, always, never };

struct FilterSettings {
    OnStoreError on_store_error = OnStoreError::tempfail;
    NonSmtpDetection non_smtp = NonSmtpDetection::automatic;
};

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

}  // namespace quotamilter::filter
