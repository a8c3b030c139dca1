#!/usr/bin/env bash
# Sends a user's walk through the API (datasets, training, named models, /v1 predict, /v2
# inference, and error cases) to BASE (default: Prism's proxy on :4010 in front of the app), so a
# third-party validator sees real traffic. Prints "status method path" per request; Prism logs
# every violation of the document. Needs curl and jq. See README, "Checking the contract".
set -u
BASE=${BASE:-http://127.0.0.1:4010}
J='content-type: application/json'
req() { # method path [curl args…]
  local method=$1 path=$2; shift 2
  local out status
  out=$(curl -s -o /tmp/walk-body -w '%{http_code}' -X "$method" "$BASE$path" "$@")
  status=$out
  echo "$status $method $path"
}
csv='a,b,color,label'
for i in $(seq 1 80); do csv+=$'\n'"$((i % 7)).5,$((i % 5)).25,$([ $((i % 2)) = 0 ] && echo red || echo blue),$([ $((i % 3)) = 0 ] && echo yes || echo no)"; done
req POST /v1/datasets -H 'content-type: text/csv' --data-binary "$csv"; ds=$(jq -r .id /tmp/walk-body)
req GET "/v1/datasets/$ds"
req POST /v1/training-jobs -H "$J" -d "{\"datasetId\":\"$ds\",\"target\":\"label\",\"task\":\"classification\",\"training\":{\"epochs\":3,\"seed\":1}}"
job=$(jq -r .jobId /tmp/walk-body)
for _ in $(seq 1 120); do
  req GET "/v1/training-jobs/$job" > /dev/null
  [ "$(jq -r .state /tmp/walk-body)" = completed ] && break
  sleep 1
done
req GET "/v1/training-jobs/$job"; model=$(jq -r .modelId /tmp/walk-body)
req GET "/v1/training-jobs/$job/report"
req GET "/v1/training-jobs/$job/curves.svg"
req GET /v1/models
req GET "/v1/models/$model"
name="walk$RANDOM"
req POST "/v1/model-names/$name/versions" -H "$J" -d "{\"jobId\":\"$job\"}"
req POST "/v1/model-names/$name/versions" -H "$J" -d "{\"modelId\":\"$model\"}"
req GET /v1/model-names
req GET "/v1/model-names/$name"
req PUT "/v1/model-names/$name/aliases/production" -H "$J" -d '{"version":1}'
req PUT "/v1/model-names/$name/aliases/production" -H "$J" -d '{"version":2}'
req GET "/v1/model-names/$name/history"
req POST "/v1/models/$name@production/predict" -H "$J" -d '{"rows":[{"a":1.5,"b":2.25,"color":"red"}]}'
req POST "/v1/models/$model/predict?explain=drift" -H "$J" -d '{"inputs":[[99,2.25,"green"]]}'
req POST "/v1/models/$model/predict" -H "$J" -d '{"rows":[{"a":"high","b":1,"color":"red"}]}'
req GET /v2
req GET /v2/health/live
req GET /v2/health/ready
req GET "/v2/models/$name"
req GET "/v2/models/$name/versions/1"
req GET "/v2/models/$name/ready"
req GET "/v2/models/$name/versions/production/ready"
inputs='[{"name":"a","shape":[1,1],"datatype":"FP32","data":[1.5]},{"name":"b","shape":[1,1],"datatype":"FP32","data":[2.25]},{"name":"color","shape":[1,1],"datatype":"BYTES","data":["red"]}]'
req POST "/v2/models/$name/infer" -H "$J" -d "{\"id\":\"walk-1\",\"inputs\":$inputs}"
req POST "/v2/models/$name/versions/2/infer" -H "$J" -d "{\"inputs\":$inputs,\"outputs\":[{\"name\":\"probabilities\"}]}"
req POST "/v2/models/$name/infer" -H "$J" -d '{"inputs":[{"name":"a","shape":[2],"datatype":"FP32","data":[1]}]}'
req GET /v2/models/nobody
req POST /v2/models/nobody/infer -H "$J" -d "{\"inputs\":$inputs}"
req DELETE "/v1/models/$model"
req DELETE "/v1/model-names/$name/aliases/production"
req DELETE "/v1/models/$model"
req GET "/v1/models/$model"
req GET /v1/datasets/ds_missing
req POST /v1/training-jobs -H 'content-type: text/plain' -d '{}'
