//! Small templates the parsing and resolving tests share.

/// Parameters, globals, two queues (one the other's DLQ), a table and a function with
/// an HTTP route and an SQS event source.
pub const SMALL: &str = r#"
Parameters:
  Base:
    Type: String
    Default: https://example.com
  Level:
    Type: String
    Default: info
    AllowedValues: [info, debug]
Globals:
  Function:
    Timeout: 30
    MemorySize: 256
    Environment:
      Variables:
        TABLE: !Ref Table
        LEVEL: { Ref: Level }
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
  Main:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 360
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt Dlq.Arn
        maxReceiveCount: 5
  Dlq:
    Type: AWS::SQS::Queue
    Properties:
      MessageRetentionPeriod: 1209600
  Table:
    Type: AWS::DynamoDB::Table
    DeletionPolicy: Retain
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - { AttributeName: pk, AttributeType: S }
      KeySchema:
        - { AttributeName: pk, KeyType: HASH }
      TimeToLiveSpecification: { AttributeName: expires_at, Enabled: true }
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true }
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/worker/
      Timeout: 60
      Environment:
        Variables:
          QUEUE: !Ref Main
          QUEUE_NAME: !GetAtt Main.QueueName
          DLQ_ARN: { "Fn::GetAtt": [Dlq, Arn] }
          BASE: !Ref Base
          WHERE: !Sub "${AWS::Region}/${Main.QueueName}/${Base}"
          PORT: 8080
      Events:
        Hook:
          Type: HttpApi
          Properties: { ApiId: !Ref Api, Path: "/v1/items/{id}", Method: post }
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Main.Arn
            BatchSize: 5
            FunctionResponseTypes: [ReportBatchItemFailures]
"#;

/// A KMS key and alias, secrets of every source, and a function that refers to them
/// (shared with the local stack's own test, which runs it).
pub const SECURITY: &str = include_str!("../../tests/fixtures/security.yaml");
