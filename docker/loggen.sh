#!/bin/sh
# Writes the bundled sample's kernel LOG lines to /var/log/natwatch-demo/kern.log at the pace
# they were logged, with the current time in place of each line's timestamp. The sample is ten
# minutes with port scans, a SYN flood and SMTP from the office, and the script starts over at
# its end.
# Fluent Bit's tail input notices the truncation at each start and reads from the top again.
set -eu

out=/var/log/natwatch-demo/kern.log
mkdir -p "$(dirname "$out")"

while true; do
    : > "$out"
    awk -v out="$out" '
        {
            split($3, hms, ":")
            second = hms[1] * 3600 + hms[2] * 60 + hms[3]
            if (NR == 1) previous = second
            while (previous < second) {
                fflush(out)
                system("sleep 1")
                previous++
            }
            stamp = strftime("%b %e %H:%M:%S", systime())
            sub(/^[A-Z][a-z][a-z] +[0-9]+ [0-9:]+/, stamp)
            print >> out
        }
        END { fflush(out) }' /loggen/iptables.log
done
