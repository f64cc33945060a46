// Rule files are written by people and loaded by a daemon: whatever the
// bytes, loading must end with rules or diagnostics, never a crash or hang.
// A file that loads is explained for one message with headers, which runs
// every compiled matcher (including the RE2 conditions).
#include "rules/explain.h"
#include "rules/load.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace quotamilter::rules;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    LoadResult result = load_rules_text(text, "fuzz.json");
    if (auto* errors = std::get_if<std::vector<Diagnostic>>(&result)) {
        if (errors->empty()) std::abort();  // never neither rules nor errors
        for (const Diagnostic& d : *errors) {
            if (d.line < 1 || d.column < 1) std::abort();  // every error has a place in the file
        }
        return 0;
    }
    const RuleSet& rules = std::get<RuleSet>(result);
    ExplainInput input;
    input.facts.sender = normalize_address("<User+tag@Example.ORG>");
    input.facts.recipients.push_back(normalize_address("rcpt@hudedu.net"));
    input.facts.client_ip = "192.0.2.7";
    input.facts.sasl_user = "user";
    input.facts.size = 1234;
    input.facts.headers_known = true;
    input.facts.headers = {{"from", "Someone <someone@hudedu.net>"}, {"subject", "bulk mail"}, {"precedence", "bulk"}};
    (void)explain_text(rules, input);
    input.facts.headers_known = false;
    (void)plan_at_mail(rules, input.facts);
    (void)rules.header_names();
    return 0;
}
