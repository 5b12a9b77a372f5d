import pytest

from casenotes.settings import Settings


def test_env_overrides_and_types():
    s = Settings.from_env({"CASENOTES_TOPIC_PARTITIONS": "12", "CASENOTES_EMBEDDED_BROKER": "false",
                           "CASENOTES_CLASSIFIER_THRESHOLD": "0.7", "CASSANDRA_CONTACT_POINTS": "a,b"})
    assert s.topic_partitions == 12 and s.embedded_broker is False and s.classifier_threshold == 0.7
    assert s.cassandra_contact_points == "a,b"


def test_invalid_values_name_the_variable():
    with pytest.raises(ValueError, match="CASENOTES_TOPIC_PARTITIONS"):
        Settings.from_env({"CASENOTES_TOPIC_PARTITIONS": "many"})


def test_round_trip_through_env_and_bootstrap():
    s = Settings.from_env({}, broker="kafka://h1:9092;h2:9093", web_port=7000)
    assert Settings.from_env(s.to_env()) == s
    assert s.bootstrap_servers == "h1:9092,h2:9093"
    assert s.topic("notes") == "casenotes.notes"
