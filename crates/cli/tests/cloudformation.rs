//! The cloudformation template on the real aws CLI against a local moto server:
//! parameters from both file formats, outputs captured, redeploy, delete, delete of a
//! missing stack, raw, and a failed deploy with the tool's message.

mod common;

use common::TestProject;
use common::tools::Moto;

const STACK: &str = r#"AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  BucketName: {Type: String}
  Size: {Type: String, Default: small}
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Ref BucketName
Outputs:
  BucketArn:
    Value: !GetAtt Bucket.Arn
  Size:
    Value: !Ref Size
"#;

/// The project's name, its AWS variables pointing at moto, environment `dev`, `jobs:`.
fn header(moto: &Moto) -> String {
    format!(
        "project: cf\nvariables:\n  AWS_ENDPOINT_URL: {}\n  AWS_ACCESS_KEY_ID: testing\n  \
         AWS_SECRET_ACCESS_KEY: {{value: testing-secret-key, secret: true}}\n  AWS_DEFAULT_REGION: us-east-1\n\
         environments: {{dev: {{}}}}\njobs:\n",
        moto.url
    )
}

fn project(moto: &Moto) -> TestProject {
    let yaml = format!(
        r#"{header}  listed:
    template: cloudformation
    source: stack
    template_file: stack.yaml
    input: stack/list.json
    events: [start, delete]
    sensitive_outputs: [BucketArn]
  mapped:
    template: cloudformation
    source: stack
    template_file: stack.yaml
    input: stack/map.json
    events: [start, delete]
  reader:
    depends_on: [mapped]
    events: [start]
    commands: {{start: 'echo "size=$TERRACE_OUTPUT_JOB_MAPPED_Size arn=$TERRACE_OUTPUT_JOB_MAPPED_BucketArn"'}}
"#,
        header = header(moto)
    );
    let p = TestProject::new(&yaml);
    p.write("stack/stack.yaml", STACK)
        .write("stack/list.json", r#"[{"ParameterKey": "BucketName", "ParameterValue": "terrace-listed"}]"#)
        .write("stack/map.json", r#"{"BucketName": "terrace-mapped", "Size": "large"}"#);
    p
}

#[test]
fn deploy_redeploy_and_delete_a_stack() {
    let moto = Moto::start();
    let p = project(&moto);
    let out = p.run(&["up", "dev", "--json"]).ok().json();
    let listed_log = p.log(TestProject::job_in(&out, "listed")["run_id"].as_str().unwrap());
    assert!(listed_log.contains("stack: terrace-cf-dev-listed"), "{listed_log}");
    assert!(listed_log.contains("create-stack"), "{listed_log}");
    let reader_log = p.log(TestProject::job_in(&out, "reader")["run_id"].as_str().unwrap());
    assert!(reader_log.contains("size=large arn=arn:aws:s3:::terrace-mapped"), "{reader_log}");
    let outputs = p.json(&["outputs", "dev"]);
    let listed_arn =
        outputs.as_array().unwrap().iter().find(|o| o["job"] == "listed" && o["name"] == "BucketArn").unwrap();
    assert_eq!(listed_arn["sensitive"], true);
    assert_eq!(listed_arn["value"], "***");
    let size = outputs.as_array().unwrap().iter().find(|o| o["job"] == "listed" && o["name"] == "Size").unwrap();
    assert_eq!(size["value"], "small", "the default parameter");

    // Redeploy: an update of the existing stack, success.
    let again = p.run(&["up", "dev", "--json"]).ok().json();
    let log = p.log(TestProject::job_in(&again, "listed")["run_id"].as_str().unwrap());
    assert!(log.contains("update-stack") || log.contains("no updates are to be performed"), "{log}");

    // raw passes arguments to `aws cloudformation`.
    let raw = p.run(&["run", "listed", "--env", "dev", "--event", "raw", "--json", "--", "list-stacks"]).ok().json();
    let log = p.log(TestProject::job_in(&raw, "listed")["run_id"].as_str().unwrap());
    assert!(log.contains("terrace-cf-dev-mapped"), "{log}");

    p.run(&["destroy", "dev"]).ok();
    let gone = p.run(&["run", "listed", "--env", "dev", "--event", "delete", "--json"]).ok().json();
    let log = p.log(TestProject::job_in(&gone, "listed")["run_id"].as_str().unwrap());
    assert!(log.contains("does not exist: nothing to delete"), "{log}");
    assert!(!log.contains("testing-secret-key"));
}

#[test]
fn a_failed_deploy_carries_the_tools_message() {
    let moto = Moto::start();
    let p = project(&moto);
    p.write("stack/stack.yaml", "AWSTemplateFormatVersion: \"2010-09-09\"\nResources: 3\n");
    let out = p.run(&["run", "listed", "--env", "dev", "--event", "start", "--json"]).code(1).json();
    let reason = TestProject::job_in(&out, "listed")["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("phase `deploy`") && reason.contains("create-stack failed"), "{reason}");
    p.write("stack/list.json", r#"[{"Key": "x"}]"#);
    let out = p.run(&["run", "listed", "--env", "dev", "--event", "start", "--json"]).code(1).json();
    let reason = TestProject::job_in(&out, "listed")["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("parameters file") && reason.contains("ParameterKey"), "{reason}");
}

/// A queue, as AWS's SQS sample makes it, trimmed to what moto serves.
const QUEUE: &str = r#"AWSTemplateFormatVersion: "2010-09-09"
Description: An SQS queue and its ARN
Parameters:
  VisibilityTimeout: {Type: Number, Default: 5}
Resources:
  SQSQueue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: !Ref VisibilityTimeout
Outputs:
  QueueURL:
    Value: !Ref SQSQueue
  QueueARN:
    Value: !GetAtt SQSQueue.Arn
  QueueName:
    Value: !GetAtt SQSQueue.QueueName
"#;

/// AWS's sample `SNS/SNSTopic.yaml` (aws-cloudformation-templates), as published.
const SNS_TOPIC: &str = r#"AWSTemplateFormatVersion: "2010-09-09"

Description: Best Practice SNS Topic

Parameters:
  SubscriptionEndPoint:
    Description: The endpoint that receives notifications from the Amazon SNS topic. The endpoint value depends on the protocol that you specify. This could be a URL or ARN
    Type: String

  SubscriptionProtocol:
    Description: The subscription's protocol
    Type: String
    AllowedValues:
      - http
      - https
      - email
      - email-json
      - sms
      - sqs
      - application
      - lambda
    Default: sqs

Mappings: {}

Conditions: {}

Resources:
  SNSTopic:
    Type: AWS::SNS::Topic
    Properties: {}

  SNSSubscription:
    Type: AWS::SNS::Subscription
    Properties:
      Endpoint: !Ref SubscriptionEndPoint
      Protocol: !Ref SubscriptionProtocol
      TopicArn: !Ref SNSTopic

Outputs:
  TopicARN:
    Description: ARN of newly created SNS Topic
    Value: !Ref SNSTopic

  QueueName:
    Description: Name of newly created SNS Topic
    Value: !GetAtt SNSTopic.TopicName
"#;

#[test]
fn an_sns_topic_subscribes_the_queue_an_sqs_stack_made_before_it() {
    let moto = Moto::start();
    let yaml = format!(
        r#"{header}  queue:
    template: cloudformation
    source: sqs
    template_file: queue.yaml
  topic:
    template: cloudformation
    source: sns
    template_file: SNSTopic.yaml
    input: sns/params.json
    depends_on: [queue]
    variables:
      CFN_PARAM_SubscriptionEndPoint: ${{outputs.queue.QueueARN}}
"#,
        header = header(&moto)
    );
    let p = TestProject::new(&yaml);
    p.write("sqs/queue.yaml", QUEUE).write("sns/SNSTopic.yaml", SNS_TOPIC).write(
        "sns/params.json",
        r#"{"SubscriptionEndPoint": "replaced-by-the-variable", "SubscriptionProtocol": "sqs"}"#,
    );
    let out = p.run(&["up", "dev", "--json"]).ok().json();
    let log = p.log(TestProject::job_in(&out, "topic")["run_id"].as_str().unwrap());
    assert!(
        log.contains(
            "parameter `SubscriptionEndPoint` from variable `CFN_PARAM_SubscriptionEndPoint` (over the parameters file)"
        ),
        "{log}"
    );
    let outputs = p.json(&["outputs", "dev"]);
    let value = |job: &str, name: &str| {
        outputs.as_array().unwrap().iter().find(|o| o["job"] == job && o["name"] == name).unwrap()["value"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (queue_arn, topic_arn) = (value("queue", "QueueARN"), value("topic", "TopicARN"));
    assert!(queue_arn.starts_with("arn:aws:sqs:"), "{queue_arn}");
    // The stack got the queue's ARN as its parameter (moto creates no SNS::Subscription
    // resource, so the stack itself is asked).
    let described = std::process::Command::new("aws")
        .args(["cloudformation", "describe-stacks", "--stack-name", "terrace-cf-dev-topic", "--output", "json"])
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing-secret-key")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .unwrap();
    let described: serde_json::Value = serde_json::from_slice(&described.stdout).unwrap();
    let parameters = described["Stacks"][0]["Parameters"].as_array().unwrap();
    let parameter = |key: &str| parameters.iter().find(|p| p["ParameterKey"] == key).unwrap()["ParameterValue"].clone();
    assert_eq!(parameter("SubscriptionEndPoint"), queue_arn.as_str(), "{described}");
    assert_eq!(parameter("SubscriptionProtocol"), "sqs", "{described}");
    assert!(topic_arn.starts_with("arn:aws:sns:"), "{topic_arn}");
    // No `events` listed: the template's own (start, stop, delete); delete in reverse order.
    let down = p.run(&["destroy", "dev", "--json"]).ok().json();
    let order: Vec<&str> = down["jobs"].as_array().unwrap().iter().map(|j| j["job"].as_str().unwrap()).collect();
    assert_eq!(order, ["topic", "queue"], "{down}");
}
