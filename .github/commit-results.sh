#!/bin/sh
# Commit releases.json and results/ after a nightly `mlxvspt update`, rebasing onto whatever another
# machine pushed meanwhile (each machine writes only its own results/<machine>/). Usage: commit-results.sh MESSAGE
set -e
git config user.name "mlxvspt nightly"
git config user.email "nightly@mlxvspt.invalid"
git add releases.json results/
git diff --cached --quiet && exit 0
git commit -q -m "$1"
for attempt in 1 2 3; do
  git pull -q --rebase origin main && git push -q origin HEAD:main && exit 0
  sleep 10
done
exit 1
